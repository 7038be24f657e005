"""Issue 23, points 3-6 and 12: a served model's answers are checked every time, within deadlines and limits.

Each test puts a misbehaving completions server on 127.0.0.1 (``tests.fake_completions``):
one that drips its answer, redirects with the key, answers NaN, positive or
boolean log-probabilities, echoes other token ids than those sent, repeats a
choice index, or sends a huge body. The client must end each case with a
sentence naming the server, within its deadline and without reading the body
whole; nothing computed from such an answer is returned.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from core.errors import Cancelled, WhyLMError
from core.models import remote
from core.models.loading import load_model
from core.models.remote import EndpointError, RemoteModel, RemoteScorer
from tests.fake_completions import CHECK_ID, FakeServer, NotHttp, Raw, closed_port, normal_answer
from tests.models.test_model_options import TUTORIAL

CHECK_REQUESTS = 3  # the self-check's requests (generated, echoed as text, echoed as ids with max_tokens 0)


@pytest.fixture()
def serve() -> Iterator[Callable[..., FakeServer]]:
    """Makes fake servers; all are closed after the test."""
    made: list[FakeServer] = []

    def make(fault: Callable[[int, dict[str, Any]], Any] | None = None, **kwargs: Any) -> FakeServer:
        made.append(FakeServer(fault, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture()
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """No back-off pauses between retries."""
    monkeypatch.setattr(remote, "_sleep", lambda seconds, should_stop: None)


def _model(url: str, lm: Any) -> RemoteModel:
    return RemoteModel(name="fake", endpoint=url, tokenizer=lm.tokenizer, display_name="fake")


def _rows(n: int) -> list[tuple[list[int], list[int]]]:
    return [([1, 2, 3 + i], [4, 5]) for i in range(n)]


def _scoring(fault: Callable[[dict[str, Any]], Any]) -> Callable[[int, dict[str, Any]], Any]:
    """A fault applied to scoring requests only (after the self-check and the run's re-check)."""
    return lambda number, body: fault(body) if number > CHECK_REQUESTS else None


# ---------------------------------------------------------------- point 3: deadlines


def _drip(body: dict[str, Any]) -> Raw:
    data = b'{"choices": []}' + b" " * 1000
    return Raw(200, {"Content-Type": "application/json", "Content-Length": str(len(data))},
               (data[i : i + 1] for i in range(len(data))), pause=0.1)


@pytest.mark.parametrize("where", ["body", "status line"])
def test_a_dripping_server_is_cut_off_at_the_request_timeout(serve, lm, monkeypatch, where: str) -> None:
    monkeypatch.setenv(remote.TIMEOUT_ENV, "1")
    server = serve(lambda n, body: _drip(body) if where == "body" else Raw(200, {}, b"{}", head_pause=0.1))
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"did not answer within 1 s") as info:
        _model(server.url, lm).complete([[1, 2]], 0, echo=True)
    assert time.monotonic() - started < 2.5  # a byte every 0.1 s: the old per-read timeout never fired
    assert server.url in str(info.value)


def test_a_run_ends_at_its_deadline_though_each_request_is_in_time(serve, lm, monkeypatch) -> None:
    monkeypatch.setenv(remote.DEADLINE_ENV, "1.5")
    monkeypatch.setenv(remote.CONCURRENCY_ENV, "1")
    monkeypatch.setattr(remote, "ROWS_PER_REQUEST", 1)

    def slow(body: dict[str, Any]) -> None:
        time.sleep(0.4)

    server = serve(_scoring(slow))
    started = time.monotonic()
    with pytest.raises(EndpointError, match=r"past its deadline of 1.5 s \(WHYLM_ENDPOINT_DEADLINE_S\)"):
        RemoteScorer(_model(server.url, lm)).log_probs(_rows(20))  # 20 x 0.4 s without a deadline
    assert time.monotonic() - started < 3.0


def test_stop_ends_a_request_the_server_is_still_dripping(serve, lm) -> None:
    server = serve(_scoring(_drip))
    stop = threading.Event()
    threading.Timer(0.8, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        RemoteScorer(_model(server.url, lm), should_stop=stop.is_set).log_probs(_rows(1))
    assert time.monotonic() - started < 2.0


def test_the_self_check_holds_no_lock_another_model_needs(serve, lm, monkeypatch) -> None:
    monkeypatch.setattr(remote, "CHECK_DEADLINE_S", 30.0, raising=False)

    def slow_check(number: int, body: dict[str, Any]) -> None:
        time.sleep(3.0)

    slow = serve(slow_check)
    quick_server = serve()
    failures: list[BaseException] = []

    def load_slow() -> None:
        try:
            load_model({"name": "default", "endpoint": slow.url})
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    worker = threading.Thread(target=load_slow)
    worker.start()
    while not slow.bodies and worker.is_alive():  # until the slow server's check is under way
        time.sleep(0.02)
    started = time.monotonic()
    assert load_model("default") is lm  # another user's model: no wait for the slow server
    waited = time.monotonic() - started
    busy = worker.is_alive()
    other = load_model({"name": "default", "endpoint": quick_server.url})  # another server: checked meanwhile
    worker.join(timeout=60)
    assert waited < 0.5, f"waited {waited:.1f} s behind another server's check"
    assert busy and other.score_tokens == 0 and len(slow.bodies) >= 3 and not failures, failures


def test_the_self_check_has_its_own_deadline(serve, lm, monkeypatch) -> None:
    monkeypatch.setattr(remote, "CHECK_DEADLINE_S", 1.0, raising=False)
    server = serve(lambda n, body: _drip(body))
    started = time.monotonic()
    with pytest.raises(EndpointError, match="did not finish its check within 1 s"):
        remote.self_check(_model(server.url, lm))
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("form", ["token ids", "text only"])
def test_a_generated_target_is_cut_to_max_new_tokens(serve, lm, form: str) -> None:
    def flood(number: int, body: dict[str, Any]) -> Any:
        if body.get("echo") or not isinstance(body.get("prompt"), list):
            return None
        if form == "token ids":
            return {"choices": [{"index": 0, "text": "", "logprobs": {"token_ids": [CHECK_ID] * 100_000}}]}
        return {"choices": [{"index": 0, "text": " word" * 100_000, "logprobs": None}]}

    server = serve(flood)
    started = time.monotonic()
    ids = _model(server.url, lm).generate([1, 2, 3], 4)
    assert len(ids) == 4 and time.monotonic() - started < 2.0


def test_a_generated_id_outside_the_vocabulary_is_refused(serve, lm) -> None:
    server = serve(lambda n, body: {"choices": [{"index": 0, "text": "", "logprobs": {"token_ids": [5, 10**7]}}]})
    with pytest.raises(EndpointError, match=r"token id 10000000, outside this model's vocabulary") as info:
        _model(server.url, lm).generate([1, 2, 3], 4)
    assert server.url in str(info.value)


# ---------------------------------------------------------------- point 4: redirects


def test_the_key_never_follows_a_redirect(serve, lm, monkeypatch) -> None:
    monkeypatch.setenv(remote.API_KEY_ENV, "secret-key")
    elsewhere = serve()
    redirecting = serve(lambda n, body: Raw(302, {"Location": elsewhere.url + "/completions", "Content-Length": "0"}))
    with pytest.raises(EndpointError, match="redirect") as info:
        _model(redirecting.url, lm).complete([[1, 2]], 0, echo=True)
    assert elsewhere.seen == []  # not one request, so not the key
    assert redirecting.seen[0].get("Authorization") == "Bearer secret-key"
    assert elsewhere.url in str(info.value) and "secret-key" not in str(info.value)


# ---------------------------------------------------------------- point 5: every answer checked


def _values(change: Callable[[list[Any]], None]) -> Callable[[dict[str, Any]], Any]:
    def fault(body: dict[str, Any]) -> Any:
        doc = normal_answer(body)
        for choice in doc["choices"]:
            change(choice["logprobs"]["token_logprobs"])
        return doc

    return fault


def _set_last(value: Any) -> Callable[[list[Any]], None]:
    def change(values: list[Any]) -> None:
        values[-1] = value

    return change


def _ids_changed(body: dict[str, Any]) -> Any:
    doc = normal_answer(body)
    doc["choices"][0]["logprobs"]["token_ids"][1] += 1
    return doc


def _index_twice(body: dict[str, Any]) -> Any:
    doc = normal_answer(body)
    doc["choices"][-1]["index"] = 0
    return doc


def _index_boolean(body: dict[str, Any]) -> Any:
    doc = normal_answer(body)
    doc["choices"][1]["index"] = True
    return doc


GARBAGE = {
    "NaN": (_values(_set_last(float("nan"))), "log-probability nan"),
    "+Infinity": (_values(_set_last(float("inf"))), "log-probability inf"),
    "-Infinity": (_values(_set_last(float("-inf"))), "log-probability -inf"),
    "-1e308": (_values(_set_last(-1e308)), "log-probability -1e\\+308"),
    "positive": (_values(_set_last(5.0)), "positive log-probability 5"),
    "true": (_values(_set_last(True)), "not a number"),
    "text": (_values(_set_last("-1.0")), "not a number"),
    "huge integer": (_values(_set_last(-(10**400))), "log-probability -1000"),
    "echoed ids": (_ids_changed, "echoed token ids that differ from those sent"),
    "index twice": (_index_twice, "choice indexes 0, 0 for 2 prompts"),
    "index true": (_index_boolean, "choice indexes 0, True for 2 prompts"),
}


@pytest.mark.parametrize("case", list(GARBAGE))
def test_a_bad_answer_fails_the_scoring_with_a_sentence_naming_the_server(serve, lm, case: str) -> None:
    fault, words = GARBAGE[case]
    server = serve(_scoring(fault))
    scorer = RemoteScorer(_model(server.url, lm))
    with pytest.raises(EndpointError, match=words) as info:
        scorer.log_probs(_rows(2))
    assert server.url in str(info.value) and "no model gives" in str(info.value)


def test_a_tiny_positive_rounding_is_read_as_zero(serve, lm) -> None:
    server = serve(_scoring(_values(_set_last(2e-7))))
    [first, second] = RemoteScorer(_model(server.url, lm)).log_probs(_rows(2))
    assert first.tolist() == [-1.0, 0.0] and second.tolist() == [-1.0, 0.0]


def test_a_run_with_a_bad_answer_fails_and_returns_nothing(serve) -> None:
    from core.engine import run

    server = serve(_scoring(_values(_set_last(float("nan")))))
    with pytest.raises(WhyLMError, match="no model gives") as info:
        run({**TUTORIAL, "model": {"name": "default", "endpoint": server.url}})
    assert server.url in str(info.value)


def test_every_run_checks_the_server_again(serve, lm) -> None:
    state = {"log_prob": -1.0}
    server = serve(lambda n, body: normal_answer(body, state["log_prob"]))
    model = _model(server.url, lm)
    RemoteScorer(model).log_probs(_rows(1))
    asked = len(server.bodies)
    RemoteScorer(model).log_probs(_rows(1))
    assert len(server.bodies) == asked + 2  # one re-check and one scoring request
    state["log_prob"] = -3.0  # another model behind the same address
    with pytest.raises(EndpointError, match="may have changed"):
        RemoteScorer(model).log_probs(_rows(1))


@pytest.mark.parametrize("declared", [True, False])
def test_a_huge_answer_is_refused_unread(serve, lm, declared: bool) -> None:
    size = 200 * 2**20
    chunk = b" " * 2**16

    def huge(body: dict[str, Any]) -> Raw:
        headers = {"Content-Length": str(size)} if declared else {}
        return Raw(200, headers, (chunk for _ in range(size // len(chunk))))

    server = serve(_scoring(huge))
    scorer = RemoteScorer(_model(server.url, lm))
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(EndpointError, match=r"larger than 1.0 MB") as info:
            scorer.log_probs(_rows(1))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MB allocated to refuse it"
    assert time.monotonic() - started < 5.0 and server.url in str(info.value)


def test_rows_go_out_in_trie_order(serve, lm, monkeypatch) -> None:
    monkeypatch.setattr(remote, "ROWS_PER_REQUEST", 3)
    monkeypatch.setenv(remote.CONCURRENCY_ENV, "1")
    server = serve()
    rows = [([5, 1], [2]), ([1, 9], [3]), ([1, 2, 7], [3]), ([1, 2], [3, 4]), ([5, 1], [2]), ([1, 2, 3], [1])]
    out = RemoteScorer(_model(server.url, lm)).log_probs(rows)
    sent = [seq for body in server.bodies[CHECK_REQUESTS + 1 :] for seq in body["prompt"]]
    assert sent == [[1, 2, 3, 1], [1, 2, 3, 4], [1, 2, 7, 3], [1, 9, 3], [5, 1, 2]]  # sorted, each row once
    assert [len(o) for o in out] == [1, 1, 1, 2, 1, 1]
    np.testing.assert_array_equal(out[0], out[4])


# ---------------------------------------------------------------- point 12: alike sentences


def test_a_closed_port_and_a_port_that_is_no_completions_server_read_alike(serve, lm, quick) -> None:
    not_http = NotHttp()
    web = serve(lambda n, body: Raw(404, {"Content-Type": "text/html", "Content-Length": "9"}, b"<h1>no</h1>"[:9]))
    try:
        said = []
        for url in (closed_port(), not_http.url, web.url):
            with pytest.raises(EndpointError) as info:
                _model(url, lm).complete([[1, 2]], 0, echo=True)
            said.append(str(info.value).replace(url, "URL"))
    finally:
        not_http.close()
    assert said[0] == said[1] == said[2], said
