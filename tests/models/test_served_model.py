"""Served models: the project's OpenAI-compatible server over the bundled model, and a client that uses it.

``python -m core.serve_model`` runs as a real HTTP server in its own process.
Runs through it must give the local engine's numbers (several requests in
flight); faults (a transient 503, a shifted echo, no log-probabilities, a slow
or stopped server, a wrong model name) come back as sentences. The faults are
made by a small proxy in front of the real server.
"""

from __future__ import annotations

import copy
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from core.engine import run
from core.errors import ModelLoadError, SpecError, WhyLMError
from core.models import remote
from tests.models.test_model_options import EXAMPLES, ROOT, TUTORIAL
from tests.serving_support import rows_sent, served_bundled_model


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The project's server over the bundled model, in its own process; its /v1 address."""
    with served_bundled_model() as url:
        yield url


def _served(url: str, name: str = "default") -> dict[str, str]:
    return {"name": name, "endpoint": url}


@pytest.fixture()
def small_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two rows per request and four in flight: a run sends many requests at once."""
    monkeypatch.setattr(remote, "ROWS_PER_REQUEST", 2)
    monkeypatch.setenv(remote.CONCURRENCY_ENV, "4")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["feature_ablation", "shapley"])
def test_attributions_through_the_server_equal_the_local_engine(method: str, endpoint: str, lm, small_requests) -> None:
    spec = {**TUTORIAL, "method": {"name": method}}
    local = run(spec, lm=lm)
    served = run({**spec, "model": _served(endpoint)})
    np.testing.assert_allclose(served.seq_attr, local.seq_attr, atol=1e-4)
    np.testing.assert_allclose(served.token_attr, local.token_attr, atol=1e-4)
    assert served.meta["model_calls"] >= 2 and "served at" in served.meta["model_name"]


def _apart(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two result documents differ: numbers by more than 1e-4 (and 1e-5 of their size), anything else at all.

    The server scores with the model's own forward and its prefix cache, the local
    engine with its batched scorer: log-probabilities agree to about 2e-5, and an
    effect size (a gap over a small spread) of 13 to about 1e-4.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a.keys() | b.keys() for d in _apart(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _apart(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)):
        return [] if abs(a - b) <= 1e-4 + 1e-5 * abs(b) else [f"{where}: {a} vs {b}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bias", "few_shot"])
def test_the_probes_through_the_server_equal_the_local_engine(name: str, endpoint: str, lm, small_requests) -> None:
    if name == "bias":
        spec = copy.deepcopy(EXAMPLES["bias_gender_occupation"])
        spec.update(attribution=False, bootstrap=100, permutations=100)
        spec["sweep"]["groups"] = {g: units[:2] for g, units in spec["sweep"]["groups"].items()}
        spec["candidates"] = spec["candidates"][:3]
    else:
        spec = copy.deepcopy(EXAMPLES["few_shot_sentiment"])
        spec.update(examples=spec["examples"][:2], queries=spec["queries"][:1], order_trials=0)
    local = {k: v for k, v in run(spec, lm=lm).to_dict().items() if k not in ("meta", "spec")}
    served = {k: v for k, v in run({**spec, "model": _served(endpoint)}).to_dict().items() if k not in ("meta", "spec")}
    assert _apart(local, served) == []


def _small_example(name: str) -> dict[str, Any]:
    """An example cut to a few rows, so a served run of it takes seconds."""
    spec = copy.deepcopy(EXAMPLES[name])
    if name.startswith("bias"):
        spec.update(attribution=False, bootstrap=100, permutations=100)
        spec["sweep"]["groups"] = {g: units[:2] for g, units in spec["sweep"]["groups"].items()}
        spec["candidates"] = spec["candidates"][:3]
    elif name.startswith("few_shot"):
        spec.update(examples=spec["examples"][:3], queries=spec["queries"][:1], order_trials=0)
    return spec


@pytest.mark.slow
@pytest.mark.parametrize("example", ["tutorial", "few_shot_sentiment", "bias_gender_occupation"])
def test_each_examples_rows_through_the_servers_prefix_cache_equal_whole_rows(
    example: str, endpoint: str, lm, small_requests, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 21 on a served model: the rows a run sends in trie order, answered from the server's prefix
    cache, equal each row scored whole by the local model, to 1e-5 (relative above 1, as locally)."""
    from core.attribution.scorer import BatchedScorer

    with rows_sent(monkeypatch) as rows:
        run({**_small_example(example), "model": _served(endpoint)})
    assert len(rows) > 1
    whole = BatchedScorer(lm, share_prefix=False).log_probs([r for r, _ in rows])
    worst = max(float((np.abs(w - v) / np.maximum(1.0, np.abs(w))).max()) for w, (_, v) in zip(whole, rows))
    print(f"{example}: {len(rows)} rows served, largest difference from whole rows {worst:.1e}")
    assert worst <= 1e-5, worst


@pytest.mark.slow
def test_a_generated_target_comes_from_the_server(endpoint: str, lm) -> None:
    spec = {**TUTORIAL, "target": {"generate": {"max_new_tokens": 4}}}
    local, served = run(spec, lm=lm), run({**spec, "model": _served(endpoint)})
    assert served.output_tokens == local.output_tokens
    np.testing.assert_allclose(served.seq_attr, local.seq_attr, atol=1e-4)


def test_gradient_methods_say_they_need_local_weights(endpoint: str) -> None:
    with pytest.raises(SpecError, match="needs the model's weights on this machine"):
        run({**TUTORIAL, "method": {"name": "saliency"}, "model": _served(endpoint)})


# ---------------------------------------------------------------- faults, made by a proxy


class _Proxy:
    """Forwards to the real server; ``change(body, answer)`` may rewrite an answer or answer itself."""

    def __init__(self, upstream: str, change: Callable[[dict, dict | None], tuple[int, dict] | None]) -> None:
        self.upstream, self.change, self.requests = upstream, change, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                proxy.requests += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                early = proxy.change(body, None)
                if early is None:
                    request = urllib.request.Request(
                        proxy.upstream + self.path.removeprefix("/v1"), data=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"}, method="POST",
                    )
                    with urllib.request.urlopen(request, timeout=120) as response:
                        answer = json.loads(response.read())
                    early = proxy.change(body, answer) or (200, answer)
                status, doc = early
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def proxy(endpoint: str) -> Iterator[Callable[..., _Proxy]]:
    # a closed proxy's port may be handed to a later test's proxy: forget the servers checked before, or a
    # check made of another server at the same address would stand for this one
    remote._CHECKED.clear()
    made: list[_Proxy] = []

    def make(change: Callable[[dict, dict | None], tuple[int, dict] | None]) -> _Proxy:
        made.append(_Proxy(endpoint, change))
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.mark.slow
def test_busy_answers_are_retried(proxy, lm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "_sleep", lambda seconds, should_stop: None)
    failures = {"left": 3}

    def busy(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None and failures["left"] > 0:
            failures["left"] -= 1
            return (503 if failures["left"] % 2 else 429), {"error": {"message": "busy"}}
        return None

    p = proxy(busy)
    served = run({**TUTORIAL, "model": _served(p.url)})
    np.testing.assert_allclose(served.seq_attr, run(TUTORIAL, lm=lm).seq_attr, atol=1e-4)
    assert failures["left"] == 0


@pytest.mark.slow
def test_scoring_asks_no_generated_token_unless_the_server_needs_one(proxy, lm) -> None:
    seen: list[int] = []

    def no_zero(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None:
            seen.append(body["max_tokens"])
            if body["max_tokens"] == 0:
                return 400, {"error": {"message": "max_tokens must be at least 1"}}
        return None

    served = run({**TUTORIAL, "model": _served(proxy(no_zero).url)})
    np.testing.assert_allclose(served.seq_attr, run(TUTORIAL, lm=lm).seq_attr, atol=1e-4)
    # the check (generated, echoed as text, echoed as ids with 0 then 1), then every scoring request
    assert seen[:4] == [1, 1, 0, 1] and set(seen[4:]) == {1}, seen
    seen.clear()
    run({**TUTORIAL, "model": _served(proxy(lambda body, answer: seen.append(body["max_tokens"]) if answer is None
                                              else None).url)})
    assert seen[:3] == [1, 1, 0] and set(seen[3:]) == {0}, seen  # the project's server takes 0: nothing generated


def _shift_echo(body: dict, answer: dict | None) -> tuple[int, dict] | None:
    """The llama-cpp-python server's fault: echoed log-probabilities one token late."""
    if answer is not None and body.get("echo"):
        for choice in answer["choices"]:
            lps = choice["logprobs"]["token_logprobs"]
            choice["logprobs"]["token_logprobs"] = [None, None, *lps[1:-1]]
    return None


def test_a_server_whose_echo_is_shifted_is_refused_with_a_sentence(proxy) -> None:
    p = proxy(_shift_echo)
    with pytest.raises(ModelLoadError) as info:
        run({**TUTORIAL, "model": _served(p.url)})
    assert "gives inconsistent log-probabilities" in str(info.value) and "shifted" in str(info.value)


def test_a_shift_in_the_token_id_echo_alone_is_refused(proxy) -> None:
    def shift_ids(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        return _shift_echo(body, answer) if isinstance(body.get("prompt"), list) else None

    with pytest.raises(ModelLoadError) as info:
        run({**TUTORIAL, "model": _served(proxy(shift_ids).url)})
    assert "scores the same token" in str(info.value) and "echoed back as token ids" in str(info.value)


def test_a_server_that_takes_no_token_ids_is_refused(proxy) -> None:
    def text_only(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None and isinstance(body.get("prompt"), list):  # llama-cpp-python's schema: str or list[str]
            return 422, {"detail": [{"msg": "Input should be a valid string"}]}
        return None

    with pytest.raises(WhyLMError, match="does not take prompts as token ids"):
        run({**TUTORIAL, "model": _served(proxy(text_only).url)})


@pytest.mark.slow
def test_a_server_that_reads_max_tokens_0_as_no_limit_is_asked_for_one(proxy, lm) -> None:
    seen: list[int] = []

    def unlimited(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None:
            seen.append(body["max_tokens"])
        elif body["max_tokens"] == 0:  # llama-cpp-python generates until the context is full
            for choice in answer["choices"]:
                choice["logprobs"]["token_logprobs"] += [-1.0, -2.0]
        return None

    served = run({**TUTORIAL, "model": _served(proxy(unlimited).url)})
    np.testing.assert_allclose(served.seq_attr, run(TUTORIAL, lm=lm).seq_attr, atol=1e-4)
    assert seen[:3] == [1, 1, 0] and set(seen[3:]) == {1}, seen


def test_a_server_without_log_probabilities_is_refused(proxy) -> None:
    def none(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is not None:
            for choice in answer["choices"]:
                choice["logprobs"] = None
        return None

    with pytest.raises(WhyLMError, match="returns no log-probabilities"):
        run({**TUTORIAL, "model": _served(proxy(none).url)})


def test_a_slow_server_gets_a_timeout_sentence(proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(remote.TIMEOUT_ENV, "0.5")

    def slow(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None:
            time.sleep(2)
        return None

    with pytest.raises(WhyLMError, match="did not answer within 0.5 s"):
        run({**TUTORIAL, "model": _served(proxy(slow).url)})


def test_a_wrong_model_name_gets_a_sentence(endpoint: str) -> None:
    with pytest.raises(WhyLMError, match="does not know this model"):
        run({**TUTORIAL, "model": {"name": "default", "endpoint": endpoint, "tokenizer": "default"} | {"name": "other"}})


def test_a_server_that_stops_mid_run_gets_a_sentence_and_stop_still_works(proxy, lm, monkeypatch) -> None:
    monkeypatch.setattr(remote, "_sleep", lambda seconds, should_stop: None)
    monkeypatch.setattr(remote, "ROWS_PER_REQUEST", 1)
    state = {"scoring": 0}

    def dies(body: dict, answer: dict | None) -> tuple[int, dict] | None:
        if answer is None and body.get("echo") and len(body["prompt"]) == 1:
            state["scoring"] += 1
            if state["scoring"] > 3:  # after the self-check and a first row: gone
                raise ConnectionResetError("gone")
        return None

    p = proxy(dies)
    with pytest.raises(WhyLMError, match="Could not reach the server|did not answer"):
        run({**TUTORIAL, "model": _served(p.url), "method": {"name": "shapley"}})
    started = time.monotonic()
    with pytest.raises(WhyLMError):  # Stop: cancelled between requests, at once
        run({**TUTORIAL, "model": _served(p.url)}, should_stop=lambda: True)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- configuration


def test_the_models_setting_offers_served_models() -> None:
    from core.models.catalog import parse_models

    [big] = parse_models("Llama 70B=meta-llama/Llama-3.1-70B-Instruct@http://vllm:8000/v1/")
    assert big.label == "Llama 70B" and big.endpoint == "http://vllm:8000/v1"
    assert big.document() == {"name": "meta-llama/Llama-3.1-70B-Instruct", "endpoint": "http://vllm:8000/v1"}
    with pytest.raises(WhyLMError, match="must be a server address"):
        parse_models("Big=org/model@vllm:8000")


def test_the_compose_file_names_the_three_services_and_their_settings() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"vllm", "postgres", "whylm"}
    env = compose["services"]["whylm"]["environment"]
    from core.models.catalog import parse_models

    [served] = parse_models(env["WHYLM_MODELS"])
    assert served.endpoint == "http://vllm:8000/v1"
    assert env["WHYLM_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert any("--tensor-parallel-size" in arg for arg in compose["services"]["vllm"]["command"])
    assert "docs/DEPLOY.md" in (ROOT / "README.md").read_text(encoding="utf-8")
