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
default 4), ``WHYLM_ENDPOINT_TIMEOUT_S`` (the longest one request may take, from
sending it to the last byte of its answer, default 60) and
``WHYLM_ENDPOINT_DEADLINE_S`` (the longest a run's scoring may wait on the
server in all, default 3600). Both are wall-clock deadlines: a server that drips
its answer a byte at a time cannot hold a run past them.

What comes back is never trusted:

- an answer is read up to a size proportional to what was asked
  (:func:`answer_limit`), and refused beyond it;
- redirects are not followed (the API key would go with them): a server that
  redirects is refused with a sentence naming where it pointed;
- every answer is checked (:func:`choices_of`, :func:`log_prob`): one choice per
  prompt index, echoed token ids equal to those sent, log-probabilities that are
  finite real numbers (not booleans) no greater than 0; a generated continuation
  is cut to the tokens asked for and checked against the vocabulary. A run with
  any bad answer fails with a sentence naming the server, so nothing it computed
  is saved as done.

Before a server is first used, :func:`self_check` compares a generated token's
log-probability with the same token echoed back (as text, then as token ids),
within its own deadline and holding no lock but the one for that server; a
server whose answers disagree (the llama-cpp-python server's echo is shifted by
one token), that returns no log-probabilities, or that takes no token-id prompts
is refused with a sentence. Every run then re-checks it with one request
(:func:`recheck`): the model behind an address can change between runs.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import Cancelled, ModelLoadError, WhyLMError
from core.models.backend import Capabilities
from core.models.sharing import ModelShare

API_KEY_ENV = "WHYLM_ENDPOINT_API_KEY"
CONCURRENCY_ENV = "WHYLM_ENDPOINT_CONCURRENCY"
TIMEOUT_ENV = "WHYLM_ENDPOINT_TIMEOUT_S"
DEADLINE_ENV = "WHYLM_ENDPOINT_DEADLINE_S"
RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
ATTEMPTS = 4
ROWS_PER_REQUEST = 32
CHECK_PROMPT = "The capital of France is"
CHECK_TOLERANCE = 0.05  # nats: a served model's generation and scoring paths may differ this much
CHECK_DEADLINE_S = 30.0  # the whole self-check (four small requests), whatever the server does
ANSWER_BASE_BYTES = 2**20  # an answer may be this large, plus ANSWER_BYTES_PER_TOKEN per token sent or asked for
ANSWER_BYTES_PER_TOKEN = 2048  # vLLM's echo with logprobs=1 takes about 100 bytes a token
LOWEST_LOG_PROB = -1e5  # nats: far below any real model's (a uniform 10^6-token vocabulary gives -13.8)
ROUNDING_SLACK = 1e-3  # a log-softmax in reduced precision may come out this far above 0; read as 0
CHARS_PER_TOKEN = 64  # a generated text longer than this per asked token is cut before it is tokenized
WATCH_INTERVAL_S = 0.05
_CHECKED: dict[tuple[str, str], _Checked] = {}  # servers checked in this process, and what to re-check each run
_CHECK_LOCKS: dict[tuple[str, str], threading.Lock] = {}  # one per server: a slow server holds up no other
_LOCKS_LOCK = threading.Lock()


class EndpointError(WhyLMError):
    """A served model did not answer as it should (a sentence for the user)."""


class EndpointLate(EndpointError):
    """A served model did not answer in time (a request's timeout or a run's deadline passed)."""


@dataclass(frozen=True)
class _Checked:
    """What the self-check found: the tokens a scoring request asks for, and one scored row to re-check."""

    score_tokens: int
    sent: tuple[int, ...]
    position: int
    said: float


def _setting(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise WhyLMError(f"{name} must be a number (got {raw!r}).") from None
    if not math.isfinite(value) or value < minimum:
        raise WhyLMError(f"{name} must be a number of at least {minimum:g} (got {raw}).")
    return value


@dataclass(frozen=True)
class Deadline:
    """When waiting on a server must end (``time.monotonic()``), and how to say it was passed."""

    at: float
    seconds: float
    setting: str  # the variable that sets it, named in the sentence ("" for the self-check's own)

    @classmethod
    def after(cls, seconds: float, setting: str = "") -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds, seconds, setting)

    @classmethod
    def for_run(cls) -> Deadline:
        """A run's deadline (``WHYLM_ENDPOINT_DEADLINE_S``, default an hour)."""
        return cls.after(_setting(DEADLINE_ENV, 3600.0, 0.1), DEADLINE_ENV)

    def passed(self, url: str) -> EndpointLate:
        """The sentence for a server that held a run or a check past this deadline."""
        if not self.setting:
            return EndpointLate(
                f"The server at {url} did not finish its check within {self.seconds:g} s; it may be overloaded "
                "or not a completions server. Try again later."
            )
        return EndpointLate(
            f"The run waited on the server at {url} past its deadline of {self.seconds:g} s ({self.setting}); the "
            f"server may be overloaded or dripping its answers. Try again, run less, or raise {self.setting}."
        )


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

    @property
    def capabilities(self) -> Capabilities:
        """A served model: scored and generated on its server; no gradients (no weights here)."""
        return Capabilities(gradients=False, served=True)

    def own_scorer(self, progress: Any = None, should_stop: Any = None) -> RemoteScorer:
        """Requests to its server (``core.models.backend.Backend``)."""
        return RemoteScorer(self, progress=progress, should_stop=should_stop)

    @property
    def url(self) -> str:
        """The completions address requests go to."""
        return f"{self.endpoint}/completions"

    @property
    def vocabulary(self) -> int:
        """How many token ids the tokenizer knows (a served id outside ``range(vocabulary)`` is refused)."""
        return len(self.tokenizer)

    def complete(self, prompts: list[list[int]], max_tokens: int, echo: bool, deadline: Deadline | None = None,
                 should_stop: Callable[[], bool] | None = None, **extra: Any) -> list[dict[str, Any]]:
        """The server's choices for ``prompts`` (token ids), one per prompt in order (checked: :func:`choices_of`)."""
        body = {"model": self.name, "prompt": prompts, "max_tokens": max_tokens, "echo": echo, "logprobs": 1,
                "temperature": 0.0, **extra}
        asked = sum(len(p) for p in prompts) + max_tokens * len(prompts)
        doc = post(self.url, body, should_stop, deadline, answer_limit(asked))
        return choices_of(doc, len(prompts), self.url)

    def complete_text(self, prompt: str, max_tokens: int, echo: bool, deadline: Deadline | None = None) -> dict[str, Any]:
        """The server's one choice for a text prompt (every OpenAI-compatible server takes text)."""
        body = {"model": self.name, "prompt": prompt, "max_tokens": max_tokens, "echo": echo, "logprobs": 1,
                "temperature": 0.0}
        doc = post(self.url, body, None, deadline, answer_limit(len(prompt) + max_tokens))
        return choices_of(doc, 1, self.url)[0]

    def generate(self, prompt_ids: list[int], max_new_tokens: int, seed: int | None = None,
                 temperature: float = 0.0, top_p: float = 1.0) -> list[int]:
        """The served model's continuation of ``prompt_ids`` as token ids (greedy unless a temperature is given).

        At most ``max_new_tokens`` ids come back, each in this tokenizer's vocabulary; a
        server that answers with text only has it cut to a length those tokens could
        have before it is tokenized.
        """
        extra: dict[str, Any] = {"temperature": temperature, "top_p": top_p}
        if seed is not None:
            extra["seed"] = seed
        [choice] = self.complete([prompt_ids], max_new_tokens, echo=False, **extra)
        logprobs = choice.get("logprobs")
        ids = logprobs.get("token_ids") if isinstance(logprobs, dict) else None
        if isinstance(ids, list) and ids:
            return token_ids(ids[:max_new_tokens], self.vocabulary, self.url)
        text = choice.get("text", "")
        if not isinstance(text, str):
            raise EndpointError(f"The server at {self.url} answered with a continuation that is not text.")
        cut = text[: max_new_tokens * CHARS_PER_TOKEN]
        # the server's text is text: "<|im_end|>" written out stays its characters, never a control token
        ids = self.tokenizer(cut, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return list(ids)[:max_new_tokens]


# ---------------------------------------------------------------- checking what comes back


def _garbage(url: str, what: str) -> EndpointError:
    return EndpointError(
        f"The server at {url} answered with {what}, which no model gives; the run is stopped so that nothing "
        "computed from it is saved. Check the server (its model and version)."
    )


def log_prob(value: Any, url: str) -> float:
    """A served log-probability as a float, or an EndpointError: a finite real number (not a boolean) <= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _garbage(url, f"a log-probability that is not a number ({str(value)[:40]!r})")
    if isinstance(value, int) and not LOWEST_LOG_PROB <= value <= 0:
        raise _garbage(url, f"the log-probability {str(value)[:40]}")
    number = float(value)
    if not math.isfinite(number):
        raise _garbage(url, f"the log-probability {number}")
    if number > ROUNDING_SLACK:
        raise _garbage(url, f"the positive log-probability {number:g} (a probability above 1)")
    if number < LOWEST_LOG_PROB:
        raise _garbage(url, f"the log-probability {number:g}")
    return min(number, 0.0)


def token_ids(values: Any, vocabulary: int, url: str) -> list[int]:
    """Served token ids, each a whole number (not a boolean) in ``range(vocabulary)``, or an EndpointError."""
    if not isinstance(values, list):
        raise _garbage(url, "token ids that are not a list")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < vocabulary:
            raise _garbage(url, f"the token id {str(value)[:40]}, outside this model's vocabulary of {vocabulary} "
                           "(is the tokenizer the server's?)")
    return list(values)


def choices_of(doc: Any, count: int, url: str) -> list[dict[str, Any]]:
    """An answer's choices, one per prompt index ``0 .. count-1`` (each exactly once), in index order."""
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or len(choices) != count or not all(isinstance(c, dict) for c in choices):
        raise EndpointError(f"The server at {url} answered without one choice per prompt; "
                            "is it an OpenAI-compatible completions endpoint?")
    if count == 1 and "index" not in choices[0]:
        return choices
    indexes = [c.get("index") for c in choices]
    if any(isinstance(i, bool) or not isinstance(i, int) for i in indexes) or sorted(indexes) != list(range(count)):
        shown = ", ".join(str(i)[:12] for i in indexes[:8]) + (", ..." if count > 8 else "")
        raise _garbage(url, f"choice indexes {shown} for {count} prompts (each index once, from 0 up), so its "
                       "answers cannot be matched to the prompts sent,")
    return sorted(choices, key=lambda c: c["index"])


def token_logprobs(choice: Any, url: str) -> list[Any]:
    """A choice's ``logprobs.token_logprobs`` (values unchecked), or a sentence when there are none."""
    logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    if not isinstance(values, list) or not values:
        raise EndpointError(
            f"The server at {url} returns no log-probabilities for the prompt (echo with logprobs), which WhyLM "
            "needs; use a server that does, such as vLLM or `python -m core.serve_model`."
        )
    return values


def echoed_log_probs(choice: dict[str, Any], sent: Sequence[int], start: int, url: str) -> list[float]:
    """The checked log-probabilities of ``sent[start:]`` in a choice that echoes ``sent``.

    The echo must hold a log-probability for every token sent; where the server
    names the echoed token ids (``logprobs.token_ids``, vLLM's ``prompt_token_ids``)
    they must be the ones sent.
    """
    values = token_logprobs(choice, url)
    if len(values) < len(sent):
        raise EndpointError(f"The server at {url} echoed log-probabilities for fewer tokens than it was sent.")
    logprobs = choice.get("logprobs")
    for echoed in (logprobs.get("token_ids") if isinstance(logprobs, dict) else None, choice.get("prompt_token_ids")):
        if echoed is None:
            continue
        if not isinstance(echoed, list) or echoed[: len(sent)] != list(sent):
            at = next((i for i, t in enumerate(sent) if not isinstance(echoed, list) or i >= len(echoed)
                       or echoed[i] != t), 0)
            got = echoed[at] if isinstance(echoed, list) and at < len(echoed) else None
            raise _garbage(url, f"echoed token ids that differ from those sent (at position {at}: sent {sent[at]}, "
                           f"echoed {str(got)[:20]})")
    return [log_prob(v, url) for v in values[start : len(sent)]]


# ---------------------------------------------------------------- requests


def answer_limit(tokens: int) -> int:
    """The most bytes an answer about ``tokens`` tokens (sent and asked for) may have before it is refused."""
    return ANSWER_BASE_BYTES + ANSWER_BYTES_PER_TOKEN * max(0, tokens)


def _headers() -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


class _TooLarge(Exception):
    pass


class _Late(Exception):
    pass


def _exchange(url: str, data: bytes, end: float, should_stop: Callable[[], bool] | None,
              max_bytes: int) -> tuple[int, str, bytes]:
    """One POST without redirects: (status, Location header, body), read within ``max_bytes`` and by ``end``.

    A watcher closes the connection when ``end`` (``time.monotonic()``) passes or
    ``should_stop`` says so, whatever the server is sending (a socket timeout alone
    is per read: a server dripping a byte a second would never reach it).
    """
    parts = urllib.parse.urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    left = end - time.monotonic()
    if left <= 0:
        raise _Late
    conn = kind(parts.hostname or "", parts.port, timeout=left)
    done = threading.Event()
    why: list[str] = []

    def watch() -> None:
        while not done.wait(WATCH_INTERVAL_S):
            stop = should_stop is not None and should_stop()
            if stop or time.monotonic() >= end:
                why.append("stop" if stop else "late")
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    watcher = threading.Thread(target=watch, name="whylm-endpoint-deadline", daemon=True)
    watcher.start()
    try:
        conn.request("POST", path, body=data, headers=_headers())
        response = conn.getresponse()
        declared = response.getheader("Content-Length") or ""
        if declared.strip().isdigit() and int(declared) > max_bytes:
            raise _TooLarge
        chunks, size = [], 0
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        if why:  # the watcher closed the connection: what was read is cut short
            raise OSError("closed by the watcher")
        return response.status, response.getheader("Location") or "", b"".join(chunks)
    except (OSError, http.client.HTTPException, ValueError):
        if why == ["stop"]:
            raise Cancelled("Stopped.") from None
        if why == ["late"] or time.monotonic() >= end:
            raise _Late from None
        raise
    finally:
        done.set()
        conn.close()


def _unreachable(url: str) -> EndpointError:
    """One sentence for a closed port, a service that is no web server and an answer that is not JSON."""
    return EndpointError(
        f"Could not reach the server at {url} as a completions server; check that it is running and that the "
        "endpoint address is right."
    )


def post(url: str, body: dict[str, Any], should_stop: Callable[[], bool] | None = None,
         deadline: Deadline | None = None, max_bytes: int | None = None) -> Any:
    """POST ``body`` as JSON and return the answer's JSON; retry transient failures; a sentence for any other.

    Each try ends by ``WHYLM_ENDPOINT_TIMEOUT_S`` after it starts and by ``deadline``;
    the answer is refused past ``max_bytes`` (default: :func:`answer_limit` of nothing);
    a redirect is refused, never followed.
    """
    timeout = _setting(TIMEOUT_ENV, 60.0, 0.1)
    limit = answer_limit(0) if max_bytes is None else max_bytes
    data = json.dumps(body).encode("utf-8")
    for attempt in range(ATTEMPTS):
        if should_stop is not None and should_stop():
            raise Cancelled("Stopped.")
        own_end = time.monotonic() + timeout
        end = own_end if deadline is None else min(own_end, deadline.at)
        try:
            status, location, raw = _exchange(url, data, end, should_stop, limit)
        except _Late:
            if deadline is not None and deadline.at <= own_end:
                raise deadline.passed(url) from None
            raise EndpointLate(
                f"The server at {url} did not answer within {timeout:g} s; it may be overloaded. "
                f"Try again, or raise {TIMEOUT_ENV}."
            ) from None
        except _TooLarge:
            raise EndpointError(
                f"The server at {url} sent an answer larger than {limit / 2**20:.1f} MB for a request this size; "
                "it was refused without being read whole. Check the server."
            ) from None
        except (OSError, http.client.HTTPException, ValueError):
            if attempt == ATTEMPTS - 1:
                raise _unreachable(url) from None
        else:
            if 300 <= status < 400:
                where = f" to {location[:200]}" if location else ""
                raise EndpointError(
                    f"The server at {url} answered with a redirect ({status}{where}); WhyLM follows no redirect, so "
                    "that its key goes nowhere else. Give the address it should use as the endpoint."
                )
            doc = _json(raw)
            if 200 <= status < 300:
                if doc is None:
                    raise _unreachable(url)
                return doc
            if status not in RETRIED_STATUS or attempt == ATTEMPTS - 1:
                raise _refusal(url, status, doc)
        pause = 0.5 * 2**attempt
        if deadline is not None and time.monotonic() + pause >= deadline.at:
            raise deadline.passed(url)
        _sleep(pause, should_stop)
    raise _unreachable(url)  # not reached


def _json(raw: bytes) -> Any:
    """The JSON document in ``raw``, or None when it is none (deep nesting included)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _sleep(seconds: float, should_stop: Callable[[], bool] | None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if should_stop is not None and should_stop():
            raise Cancelled("Stopped.")
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def _refusal(url: str, status: int, doc: Any) -> EndpointError:
    """The sentence for an error status; an answer that is no JSON error reads as no completions server."""
    if not isinstance(doc, dict):
        return _unreachable(url)
    error = doc.get("error")
    message = error.get("message", "") if isinstance(error, dict) else error if isinstance(error, str) else ""
    said = f": {str(message)[:300]}" if message else ""
    if status in (401, 403):
        return EndpointError(f"The server at {url} refused the request ({status}); set {API_KEY_ENV} to a key it accepts.")
    if status == 404:
        return EndpointError(
            f"The server at {url} does not know this model or path (404{said}); check the model name and endpoint."
        )
    return EndpointError(f"The server at {url} answered {status}{said}.")


# ---------------------------------------------------------------- scoring


def trie_order(rows: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The distinct rows in lexicographic order of their token ids (prompt then target): a trie's walk.

    Neighbours then share the longest beginnings, so the requests that carry them
    (and the rows inside a request) find those beginnings in a server's prefix cache
    (vLLM's automatic prefix caching, ``python -m core.serve_model``'s own).
    """
    return sorted(set(rows), key=lambda k: (k[0] + k[1], len(k[0])))


class RemoteScorer:
    """Scores target tokens after prompts through a served model (the interface of ``BatchedScorer``).

    Rows are sent in :func:`trie_order`, so rows that share a prefix go out together
    and the server's prefix cache can serve them; ``concurrency`` requests are in
    flight at once; Stop cancels what has not been sent and ends the run. The first
    scoring of a scorer (one run) re-checks the server (:func:`recheck`), and all of
    its requests share one deadline (``WHYLM_ENDPOINT_DEADLINE_S``).
    """

    def __init__(self, lm: RemoteModel, progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.lm = lm
        self.progress = progress
        self.should_stop = should_stop
        self.concurrency = int(_setting(CONCURRENCY_ENV, 4, 1))
        self.deadline = Deadline.for_run()
        self.checked = False
        self.forward_passes = 0
        self.model_calls = 0
        self.tokens_processed = 0

    def log_probs(self, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Log-probability of each target token for each (prompt ids, target ids) row, in input order."""
        keys = [(tuple(int(t) for t in p), tuple(int(t) for t in c)) for p, c in rows]
        if any(not p or not c for p, c in keys):
            raise ValueError("a prompt and a target must each have at least one token")
        if not self.checked:
            recheck(self.lm, self.should_stop, self.deadline)
            self.checked = True
        unique = trie_order(keys)
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
        choices = self.lm.complete(seqs, self.lm.score_tokens, echo=True, deadline=self.deadline,
                                   should_stop=self.should_stop)
        out = {}
        for (prompt, target), seq, choice in zip(chunk, seqs, choices):
            out[(prompt, target)] = np.array(echoed_log_probs(choice, seq, len(prompt), self.lm.url), dtype=float)
        self.model_calls += 1
        self.forward_passes += len(chunk)
        self.tokens_processed += sum(len(s) for s in seqs)
        return out


# ---------------------------------------------------------------- the self-check


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


def _apart(said: float, again: float) -> bool:
    return abs(said - again) > CHECK_TOLERANCE * max(1.0, abs(said))


def _server_lock(key: tuple[str, str]) -> threading.Lock:
    with _LOCKS_LOCK:
        return _CHECK_LOCKS.setdefault(key, threading.Lock())


def self_check(lm: RemoteModel) -> None:
    """Refuse a server whose echoed log-probabilities disagree with its generated ones (once per server).

    Three requests: a token generated after a text prompt, with its log-probability;
    the prompt and that token echoed back as text (every OpenAI-compatible server
    takes text; the echoed token is found by its ``text_offset``); and the same
    echoed as token ids, the form scoring sends (with ``max_tokens`` 0 where the
    server allows it, so nothing is generated). Both echoes must give the generated
    token the log-probability it was generated with. The llama-cpp-python server
    (0.3.x) fails the text echo: its echoed log-probabilities are one token late.

    The whole check ends within ``CHECK_DEADLINE_S``, and only checks of the same
    server wait for each other (no lock is held that another model's load needs).
    """
    key = (lm.endpoint, lm.name)
    with _server_lock(key):
        if key in _CHECKED:
            lm.score_tokens = _CHECKED[key].score_tokens
            return
        _CHECKED[key] = _full_check(lm, Deadline.after(CHECK_DEADLINE_S))


def _full_check(lm: RemoteModel, deadline: Deadline) -> _Checked:
    url = lm.url
    first = lm.complete_text(CHECK_PROMPT, 1, echo=False, deadline=deadline)
    values = token_logprobs(first, url)
    text = first.get("text", "")
    if not isinstance(text, str) or not text or isinstance(values[0], bool) or not isinstance(values[0], (int, float)):
        raise EndpointError(f"The server at {url} returned no token with its log-probability; WhyLM needs both.")
    said = log_prob(values[0], url)
    prompt = list(lm.tokenizer(CHECK_PROMPT, add_special_tokens=False)["input_ids"])
    echoed = lm.complete_text(CHECK_PROMPT + text[:CHARS_PER_TOKEN], 1, echo=True, deadline=deadline)
    back = token_logprobs(echoed, url)
    at = _echo_position(echoed, len(CHECK_PROMPT), len(prompt))
    if at >= len(back):
        raise EndpointError(f"The server at {url} echoes fewer log-probabilities than the tokens it was sent.")
    if _apart(said, log_prob(back[at], url)):
        raise _inconsistent(lm.endpoint, said, float(back[at]), "")
    ids = (first.get("logprobs") or {}).get("token_ids")
    generated = token_ids(ids[:1], lm.vocabulary, url) if isinstance(ids, list) and ids else list(
        lm.tokenizer(text[:CHARS_PER_TOKEN], add_special_tokens=False)["input_ids"])
    sent = prompt + generated[:1]
    try:  # scoring needs no generated token; a server that refuses max_tokens 0 gets 1
        [by_ids] = lm.complete([sent], 0, echo=True, deadline=deadline)
        score_tokens = 0
    except EndpointLate:
        raise
    except EndpointError:
        try:
            [by_ids] = lm.complete([sent], 1, echo=True, deadline=deadline)
        except EndpointError as again:
            raise EndpointError(
                f"The server at {url} does not take prompts as token ids ({again}), which WhyLM sends so "
                "that the tokens it attributes are the ones scored; use vLLM, SGLang or "
                "`python -m core.serve_model`."
            ) from None
        score_tokens = 1
    again = token_logprobs(by_ids, url)
    if score_tokens == 0 and len(again) > len(sent):
        score_tokens = 1  # it generated anyway (0 read as "no limit"): ask for one token, not a page
    if len(again) <= len(prompt):
        raise EndpointError(f"The server at {url} echoes fewer log-probabilities than the tokens it was sent.")
    scored = echoed_log_probs(by_ids, sent, len(prompt), url)[0]
    if len(generated) == 1 and _apart(said, scored):
        raise _inconsistent(lm.endpoint, said, scored, " as token ids")
    lm.score_tokens = score_tokens
    return _Checked(score_tokens, tuple(sent), len(prompt), scored)


def recheck(lm: RemoteModel, should_stop: Callable[[], bool] | None = None, deadline: Deadline | None = None) -> None:
    """Check a server again before a run uses it: one request, the self-check's scored row sent again.

    The row must come back valid and with the log-probability it had when the server
    was checked (the model behind an address may have changed). A server never
    checked in this process gets the whole :func:`self_check` first.
    """
    key = (lm.endpoint, lm.name)
    if key not in _CHECKED:
        self_check(lm)
    checked = _CHECKED[key]
    lm.score_tokens = checked.score_tokens
    own = Deadline.after(CHECK_DEADLINE_S)
    limit = own if deadline is None or own.at <= deadline.at else deadline
    [choice] = lm.complete([list(checked.sent)], checked.score_tokens, echo=True, deadline=limit,
                           should_stop=should_stop)
    now = echoed_log_probs(choice, checked.sent, checked.position, lm.url)[0]
    if _apart(checked.said, now):
        _CHECKED.pop(key, None)  # the next run checks it in full again
        raise EndpointError(
            f"The server at {lm.url} now scores its check token {now:.3f} where it scored {checked.said:.3f} when it "
            "was first checked; the model behind it may have changed. Run again to check it anew."
        )
