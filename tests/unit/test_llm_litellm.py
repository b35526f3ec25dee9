"""The litellm path for real, against the loopback OpenAI-compatible server in tests/judge_server.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demalign.errors import ConfigError
from demalign.judging.pairwise import parse_pairwise
from demalign.judging.prompts import judge_messages
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, ChatCall
from demalign.llm.execute import execute
from demalign.llm.generation import PromptItem, generate_responses
from demalign.llm.litellm_backend import LiteLLMBackend, expected_cost, parse_retry_after
from demalign.llm.specs import ModelSpec
from tests.judge_server import JudgeServer, scripted_reply

FAST = CallPolicy(concurrency=8, max_retries=8, retry_backoff=0.01, max_backoff=0.05, invalid_retries=2)


@pytest.fixture
def server() -> Iterator[JudgeServer]:
    with JudgeServer() as running:
        yield running


def _judge_calls(n: int) -> list[ChatCall]:
    return [
        ChatCall(
            "gpt-5.2",
            judge_messages("pairwise", "Be honest.", f"Question {i}?", [f"a{i}", f"b{i}"]),
            {"max_tokens": 64},
        )
        for i in range(n)
    ]


def _backend(server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> LiteLLMBackend:
    monkeypatch.setenv("DEMALIGN_TEST_KEY", "sk-test-123")
    return LiteLLMBackend("gpt-5.2", server.base_url, "DEMALIGN_TEST_KEY", timeout=5, config_key="judge")


def accept(text: str) -> bool:
    return parse_pairwise(text) is not None


def test_twenty_percent_faults_lose_nothing(
    server: JudgeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """60 judge calls with 20% of requests answered 429 / 500 / slow / malformed: every call comes
    back, valid or invalid with its raw text; usage and the gpt-5.2 price are recorded."""
    server.fault_rate, server.slow_seconds = 0.2, 0.05
    backend = _backend(server, monkeypatch)
    results = execute(_judge_calls(60), lambda: backend, CallCache(tmp_path / "c.jsonl"), FAST, accept)
    assert len(results) == 60 and all(r.text is not None for r in results)
    assert sum(server.faults_injected.values()) > 0
    assert sum(r.valid for r in results) >= 55  # a malformed answer survives 3 asks with p = 1/125
    for result in results:
        assert result.valid == accept(result.text)
        assert result.prompt_tokens > 0 and result.cost is not None and result.cost > 0
    assert server.authorizations == {"Bearer sk-test-123"}


def test_forked_client_processes_through_litellm(
    server: JudgeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two forked litellm clients (each with its own connections) against the faulty server: every
    call answered and cached (a malformed verdict re-asked adds a line), and the rerun sends only
    the calls still invalid."""
    server.fault_rate = 0.2
    backend = _backend(server, monkeypatch)
    policy = CallPolicy(concurrency=8, max_retries=8, retry_backoff=0.01, max_backoff=0.05, processes=2)
    results = execute(_judge_calls(40), lambda: backend, CallCache(tmp_path / "c.jsonl"), policy, accept)
    assert all(r.text is not None and r.attempts >= 1 for r in results)
    keys = [line.split('"key":"')[1][:64] for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert set(keys) == {call.key for call in _judge_calls(40)}
    before = server.requests
    again = execute(_judge_calls(40), lambda: backend, CallCache(tmp_path / "c.jsonl"), policy, accept)
    assert all(r.cached for r, first in zip(again, results, strict=True) if first.valid)
    assert server.requests - before >= sum(not r.valid for r in results)


def test_retry_after_is_honoured(server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first request gets 429 with Retry-After: 1; the retry waits a full second, not the 0.01 s backoff."""
    server.fail_first, server.faults, server.retry_after = 1, ("429",), "1"
    start = time.perf_counter()
    [result] = execute(_judge_calls(1), lambda: _backend(server, monkeypatch), CallCache(None), FAST, accept)
    assert time.perf_counter() - start >= 1.0
    assert result.valid and result.attempts == 2 and server.requests == 2


def test_exhausted_retries_come_back_failed(server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.fault_rate, server.faults = 1.0, ("500",)
    policy = CallPolicy(max_retries=2, retry_backoff=0.01)
    [result] = execute(
        _judge_calls(1), lambda: _backend(server, monkeypatch), CallCache(None), policy, accept
    )
    assert result.text is None and "gave up after 3 attempts" in (result.error or "")
    assert server.requests == 3


def test_requests_per_minute_spaces_requests(server: JudgeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """rpm 600 = one request start per 0.1 s: 5 calls take at least 0.4 s even with concurrency 8."""
    policy = CallPolicy(concurrency=8, requests_per_minute=600)
    start = time.perf_counter()
    execute(_judge_calls(5), lambda: _backend(server, monkeypatch), CallCache(None), policy, accept)
    assert time.perf_counter() - start >= 0.4


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEMALIGN_ABSENT_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"judge\.api_key_env: environment variable DEMALIGN_ABSENT_KEY"):
        LiteLLMBackend("gpt-5.2", None, "DEMALIGN_ABSENT_KEY", timeout=5, config_key="judge")


def test_retry_after_header_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a past date: no wait
    assert parse_retry_after({}) is None


def test_expected_cost_uses_litellm_prices() -> None:
    """gpt-5.2 is priced in litellm's bundled map; an unknown model gives None, not 0."""
    cost = expected_cost("gpt-5.2", 1_000_000, 0)
    assert cost is not None and cost > 0
    assert expected_cost("no-such-model-xyz", 10, 10) is None


API = {"timeout": 5, "api_key_env": None, "concurrency": 4, "max_retries": 2, "retry_backoff": 0.01,
       "max_backoff": 1.0, "client_processes": 1, "requests_per_minute": None}  # fmt: skip
GENERATION = {
    "max_new_tokens": 32,
    "do_sample": False,
    "temperature": 0.7,
    "top_p": 0.9,
    "seed": 3,
    "batch_size": 2,
}


def test_generate_responses_keys_by_model_and_prompt_and_caches(server: JudgeServer, tmp_path: Path) -> None:
    """Two API models x three prompts (one with a system prompt): responses keyed model -> prompt
    id, each the server's scripted answer to exactly those messages; a rerun sends nothing; a new
    seed is a new cache key; overwrite=True asks again. No local model is resolved."""
    specs = [ModelSpec(name, "litellm", model=name, base_url=server.base_url) for name in ("m-a", "m-b")]
    prompts = [
        PromptItem.from_text(f"p{i}", f"Question {i}?", "Be brief." if i == 0 else None) for i in range(3)
    ]
    assert prompts[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Question 0?"},
    ]

    def generate(cache: CallCache, generation: dict = GENERATION, overwrite: bool = False):
        return generate_responses(specs, prompts, generation, API, {}, lambda: pytest.fail("base model resolved"),
                                  cache, overwrite)  # fmt: skip

    first = generate(CallCache(tmp_path / "c.jsonl"))
    assert list(first.responses) == ["m-a", "m-b"] and list(first.responses["m-a"]) == ["p0", "p1", "p2"]
    assert first.responses["m-a"]["p1"] == (scripted_reply(prompts[1].messages),) and first.failures() == []
    assert [c.settings for c in first.calls["m-b"]] == [
        {"max_tokens": 32, "temperature": 0.0, "top_p": None, "seed": 3}
    ] * 3
    assert server.requests == 6

    again = generate(CallCache(tmp_path / "c.jsonl"))
    assert server.requests == 6 and again.responses == first.responses
    assert all(r.cached for results in again.results.values() for r in results)
    generate(CallCache(tmp_path / "c.jsonl"), {**GENERATION, "seed": 4})
    assert server.requests == 12
    generate(CallCache(tmp_path / "c.jsonl"), overwrite=True)
    assert server.requests == 18
    with pytest.raises(ValueError, match="unique"):
        generate_responses(specs, [prompts[0], prompts[0]], GENERATION, API, {}, str, CallCache(None))


def test_n_samples_are_n_calls_each_with_its_own_provider_seed(server: JudgeServer, tmp_path: Path) -> None:
    """samples=3: three calls per prompt (sample 0, 1, 2; distinct cache keys), sent with seed, seed+1,
    seed+2 (one seed for all would let a seed-honouring provider return one text three times); sampled
    settings carry temperature and top_p; results are grouped per prompt in sample order."""
    from demalign.llm.litellm_backend import completion_arguments

    spec = ModelSpec("m-a", "litellm", model="m-a", base_url=server.base_url)
    prompts = [PromptItem.from_text(f"p{i}", f"Question {i}?") for i in range(2)]
    sampled = {**GENERATION, "do_sample": True}
    out = generate_responses(
        [spec], prompts, sampled, API, {}, str, CallCache(tmp_path / "c.jsonl"), samples=3
    )
    calls = out.calls["m-a"]
    assert [(c.messages[-1]["content"], c.sample) for c in calls] == [
        (f"Question {i}?", k) for i in range(2) for k in range(3)
    ]
    assert len({c.key for c in calls}) == 6 and server.requests == 6
    assert [completion_arguments(c)["seed"] for c in calls] == [3, 4, 5, 3, 4, 5]
    assert completion_arguments(calls[0]) == {"max_tokens": 32, "temperature": 0.7, "top_p": 0.9, "seed": 3}
    assert [len(texts) for texts in out.responses["m-a"].values()] == [3, 3]
    with pytest.raises(ValueError, match="samples must be >= 1"):
        generate_responses([spec], prompts, sampled, API, {}, str, CallCache(None), samples=0)
