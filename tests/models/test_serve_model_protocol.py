"""Issue 22 point 10 and issue 21 point 3: ``python -m core.serve_model`` answers as OpenAI and vLLM do.

Checked against the bundled model itself (its own forward, no server library):
``top_logprobs`` holds the model's k most likely tokens (so lm-evaluation-harness's
greedy check, "the token's log-probability is the largest at its position", is
true exactly where the token is the argmax); ``tokens`` are text as it reads; the
prefix key/value cache gives the same numbers as computing every prompt whole
(to 1e-5) while feeding the model fewer tokens; a client that hangs up stops
the work; a port in use is said before any model loads.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
import torch

from core import serve_model
from core.models.prefix_cache import PrefixCache
from core.serve_model import complete, make_handler
from tests.models.test_model_options import ROOT

TEXT = "The capital of France is Paris, and the capital of Italy is Rome. Ollama llamas zzz qwerty"


def _forward(lm, ids: list[int]) -> torch.Tensor:
    """Log-probability rows of the model's own forward over ``ids`` (row i: what follows token i)."""
    with torch.inference_mode():
        return lm.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)


def test_top_logprobs_are_the_models_most_likely_tokens(lm) -> None:
    ids = list(lm.tokenizer(TEXT, add_special_tokens=False)["input_ids"])
    [choice] = complete(lm, {"prompt": ids, "max_tokens": 0, "echo": True, "logprobs": 3})["choices"]
    rows = _forward(lm, ids)
    tops = choice["logprobs"]["top_logprobs"]
    assert tops[0] is None and choice["logprobs"]["token_logprobs"][0] is None
    greedy_checks = []
    for i in range(1, len(ids)):
        values, best = rows[i - 1].topk(3)
        expected = {lm.tokenizer.decode(ids[max(0, i - 4) : i] + [t])[len(lm.tokenizer.decode(ids[max(0, i - 4) : i])):]
                    for t in best.tolist()}
        assert expected <= set(tops[i]), (i, tops[i])
        np.testing.assert_allclose(sorted(tops[i].values())[-3:], sorted(values.tolist()), atol=1e-5)
        own = choice["logprobs"]["token_logprobs"][i]
        np.testing.assert_allclose(own, float(rows[i - 1][ids[i]]), atol=1e-5)
        # lm-evaluation-harness's greedy check (local-completions): own == max(top.values())
        greedy_checks.append((own == max(tops[i].values()), int(rows[i - 1].argmax()) == ids[i]))
    assert all(said == truth for said, truth in greedy_checks), greedy_checks
    assert {said for said, _ in greedy_checks} == {True, False}  # both cases occur in this text


def test_tokens_are_text_as_it_reads(lm) -> None:
    doc = complete(lm, {"prompt": TEXT, "max_tokens": 2, "echo": True, "logprobs": 1})
    logprobs = doc["choices"][0]["logprobs"]
    assert "".join(logprobs["tokens"]) == doc["choices"][0]["text"]
    assert " capital" in logprobs["tokens"] and not any("Ġ" in t for t in logprobs["tokens"])
    offsets = logprobs["text_offset"]
    assert [doc["choices"][0]["text"][a:b] for a, b in zip(offsets, offsets[1:])] == logprobs["tokens"][:-1]


def test_greedy_tokens_are_the_models_argmax(lm) -> None:
    ids = list(lm.tokenizer("Once upon a time", add_special_tokens=False)["input_ids"])
    [choice] = complete(lm, {"prompt": ids, "max_tokens": 5, "logprobs": 1})["choices"]
    out = choice["logprobs"]["token_ids"]
    seq = list(ids)
    for token in out:
        assert int(_forward(lm, seq)[-1].argmax()) == token
        seq.append(token)
    assert all(own == max(top.values()) for own, top in zip(choice["logprobs"]["token_logprobs"],
                                                             choice["logprobs"]["top_logprobs"]))


@pytest.mark.slow
def test_the_prefix_cache_gives_the_same_numbers_and_feeds_fewer_tokens(lm) -> None:
    base = list(lm.tokenizer("A long shared instruction that every row of a perturbation run starts with:",
                             add_special_tokens=False)["input_ids"])
    rows = [base + [100 + i, 200 + j, 300] for i in range(3) for j in range(2)]
    rows.reverse()  # any order: the server walks them in lexicographic order
    body = {"prompt": rows, "max_tokens": 1, "echo": True, "logprobs": 2}
    cache = PrefixCache(lm)
    with_cache = complete(lm, {**body, "prompt": rows[:3]}, cache)["choices"]
    with_cache += complete(lm, {**body, "prompt": rows[3:]}, cache)["choices"]  # a second request reuses the first
    without = complete(lm, body, PrefixCache(lm, enabled=False))["choices"]
    for a, b in zip(with_cache, without):
        np.testing.assert_allclose(a["logprobs"]["token_logprobs"][1:], b["logprobs"]["token_logprobs"][1:],
                                   rtol=1e-5, atol=1e-5)
        assert a["logprobs"]["token_ids"] == b["logprobs"]["token_ids"]
    assert cache.fed_tokens < 0.4 * sum(len(r) + 1 for r in rows), cache.fed_tokens


@pytest.fixture()
def in_process(lm) -> Iterator[str]:
    """The server's handler over the bundled model on a free port, in this process; its /v1 address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lm, "default"))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_a_client_that_hangs_up_stops_the_work(lm, in_process: str) -> None:
    port = int(in_process.rsplit(":", 1)[1].split("/")[0])
    rows = [[int(t) for t in np.random.default_rng(i).integers(100, 40000, 500)] for i in range(200)]
    body = json.dumps({"prompt": rows, "max_tokens": 0, "echo": True, "logprobs": 1}).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        time.sleep(0.5)
    hung_up = time.monotonic()

    def abandoned() -> bool:
        return bool(serve_model.ABANDONED) and serve_model.ABANDONED[-1] >= hung_up

    while not abandoned() and time.monotonic() - hung_up < 30:
        time.sleep(0.05)
    assert abandoned(), "the request ran on after its client hung up"
    assert serve_model.ABANDONED[-1] - hung_up < 10.0  # 200 rows of 500 tokens take far longer


def test_a_port_in_use_is_said_before_the_model_loads() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "core.serve_model", "--model", str(ROOT / "no-such-model"), "--port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "Could not find a model" not in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - started < 60


def test_requests_at_once_share_the_prefix_cache_safely(lm) -> None:
    base = list(lm.tokenizer("Shared words at the start", add_special_tokens=False)["input_ids"])
    requests = [[base + [100 + i, 200 + j] for j in range(3)] for i in range(4)]
    cache = PrefixCache(lm)
    got: dict[int, list] = {}

    def ask(i: int) -> None:
        got[i] = complete(lm, {"prompt": requests[i], "max_tokens": 0, "echo": True, "logprobs": 1}, cache)["choices"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for i, rows in enumerate(requests):
        alone = complete(lm, {"prompt": rows, "max_tokens": 0, "echo": True, "logprobs": 1})["choices"]
        for a, b in zip(got[i], alone):
            assert a["logprobs"]["token_ids"] == b["logprobs"]["token_ids"]
            np.testing.assert_allclose(a["logprobs"]["token_logprobs"][1:], b["logprobs"]["token_logprobs"][1:],
                                       rtol=1e-5, atol=1e-5)
