"""Offline unit tests of demalign.llm: call keys, the cache, the executor (retries, forked client
processes, resume), the scripted backend and model specs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from demalign.errors import ConfigError, DataError
from demalign.judging.pairwise import accept_pairwise
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, ChatCall, Completion, Identity
from demalign.llm.dispatch import backoff_delay
from demalign.llm.execute import execute, usage_summary
from demalign.llm.scripted import ScriptedBackend
from demalign.llm.specs import ModelSpec, model_entries, parse_model_specs

# ---------------------------------------------------------------- cache and executor


def _answers(answers: dict[str, list[str]]) -> ScriptedBackend:
    """A scripted backend answering each call from a list per user message, one answer per ask."""
    return ScriptedBackend(lambda call: answers[call.messages[0]["content"]].pop(0))


def _sent(backend: ScriptedBackend) -> list[str]:
    return [call.messages[0]["content"] for call in backend.sent]


def _call(text: str, sample: int = 0) -> ChatCall:
    return ChatCall("m", [{"role": "user", "content": text}], {"t": 0}, sample)


def test_key_depends_on_model_messages_settings_and_sample() -> None:
    base = _call("q")
    assert base.key == _call("q").key
    variants = [
        _call("q", 1),
        _call("r"),
        ChatCall("n", base.messages, base.settings),
        ChatCall("m", base.messages, {"t": 1}),
    ]
    assert len({base.key, *(v.key for v in variants)}) == 5


def test_execute_retries_invalid_then_serves_from_cache(tmp_path: Path) -> None:
    """q1 answers junk, junk, [[A]] (valid on the 3rd ask); q2 answers junk three times: with
    invalid_retries=2 it is returned invalid with its raw text. A rerun sends only q2 again."""
    backend = _answers({"q1": ["junk", "junk", "[[A]]"], "q2": ["junk", "junk", "junk", "[[B]]"]})
    policy = CallPolicy(invalid_retries=2, batch_size=4)
    cache = CallCache(tmp_path / "calls.jsonl")
    first = execute([_call("q1"), _call("q2"), _call("q1")], lambda: backend, cache, policy, accept_pairwise)
    assert [(r.text, r.valid, r.attempts) for r in first] == [
        ("[[A]]", True, 3),
        ("junk", False, 3),
        ("[[A]]", True, 3),
    ]
    assert _sent(backend) == ["q1", "q2", "q1", "q2", "q1", "q2"]
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 6

    backend.sent.clear()
    again = execute(
        [_call("q1"), _call("q2")],
        lambda: backend,
        CallCache(tmp_path / "calls.jsonl"),
        policy,
        accept_pairwise,
    )
    assert _sent(backend) == ["q2"]
    assert [(r.text, r.cached) for r in again] == [("[[A]]", True), ("[[B]]", False)]


def test_fully_cached_execute_never_builds_the_backend(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.jsonl")
    execute([_call("x")], lambda: _answers({"x": ["ok"]}), cache, CallPolicy())

    def forbidden() -> ScriptedBackend:
        raise AssertionError("backend built for a cached call")

    assert execute([_call("x")], forbidden, CallCache(tmp_path / "c.jsonl"), CallPolicy())[0].text == "ok"


class EchoAsync:
    """An async API backend answering `echo <content> from <pid>`; `die` ends its process, `refuse`
    raises the error a rejected API key gives."""

    async def acomplete(self, call: ChatCall) -> Completion:
        content = call.messages[0]["content"]
        if content == "die":
            os._exit(3)
        if content == "refuse":
            raise ConfigError("judge: the API rejected the key")
        return Completion(f"echo {content} from {os.getpid()}", 1, 1, 0.0)


def test_client_processes_answer_every_call_once(tmp_path: Path) -> None:
    """processes=2: calls are answered in two forked processes, each exactly once; the parent
    alone writes the cache, and a rerun is served from it."""
    calls = [_call(f"q{i}") for i in range(40)]
    policy = CallPolicy(concurrency=4, processes=2)
    results = execute(calls, EchoAsync, CallCache(tmp_path / "c.jsonl"), policy)
    assert [r.text.split(" from ")[0] for r in results] == [f"echo q{i}" for i in range(40)]
    pids = {int(r.text.rsplit(" ", 1)[1]) for r in results}
    assert len(pids) == 2 and os.getpid() not in pids
    lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(call.key for call in calls)
    again = execute(calls, EchoAsync, CallCache(tmp_path / "c.jsonl"), policy)
    assert all(r.cached for r in again) and [r.text for r in again] == [r.text for r in results]


def test_a_dead_client_process_leaves_its_calls_failed_not_lost() -> None:
    calls = [_call("a"), _call("die"), _call("b")]
    results = execute(calls, EchoAsync, CallCache(None), CallPolicy(concurrency=1, processes=2))
    assert results[0].valid and results[2].valid  # both in the surviving process (calls[0::2])
    assert results[1].text is None and "client process exited (code [3])" in (results[1].error or "")


def test_a_client_process_error_reaches_the_caller() -> None:
    with pytest.raises(ConfigError, match="rejected the key"):
        execute([_call("a"), _call("refuse")], EchoAsync, CallCache(None), CallPolicy(processes=2))


def test_cache_drops_a_partial_last_line_and_rejects_corrupt_ones(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    cache = CallCache(path)
    cache.append({"key": "a", "text": "[[A]]"})
    with open(path, "a") as handle:
        handle.write('{"key": "b", "te')  # a writer killed mid-line
    reopened = CallCache(path)
    assert len(reopened) == 1 and path.read_text().endswith("\n")
    reopened.append({"key": "c", "text": "x"})
    assert len(CallCache(path)) == 2
    path.write_text('{"key": "a", "text": "x"}\nnot json\n{"key": "b", "text": "y"}\n')
    with pytest.raises(DataError, match=r"calls.jsonl:2"):
        CallCache(path)


def test_backoff_honours_retry_after_else_doubles() -> None:
    policy = CallPolicy(retry_backoff=1.0, max_backoff=5.0)
    assert backoff_delay(3, policy, retry_after=2.5) == 2.5
    assert 0.9 <= backoff_delay(0, policy, None) <= 1.1
    assert 3.6 <= backoff_delay(2, policy, None) <= 4.4
    assert backoff_delay(10, policy, None) <= 5.5


def test_identity_builds_the_same_call_as_before() -> None:
    """Identity.call is ChatCall(name, messages, settings, sample): the key (what the cache stores)
    is unchanged from the pre-llm layout, and the payload is not part of it."""
    messages = [{"role": "user", "content": "q"}]
    call = Identity("m", {"t": 0}).call(messages, 1, {"kind": "pointwise"})
    assert call.key == ChatCall("m", messages, {"t": 0}, 1).key


def test_scripted_backend_answers_by_message_and_records_calls(tmp_path: Path) -> None:
    """Same request, same answer; a rerun through the cache sends nothing; tokens are chars/4 + 1,
    cost 0 (so usage totals are known)."""
    backend = ScriptedBackend(lambda call: call.messages[-1]["content"].upper())
    calls = [_call("hello"), _call("world"), _call("hello")]
    results = execute(calls, lambda: backend, CallCache(tmp_path / "c.jsonl"), CallPolicy())
    assert [r.text for r in results] == ["HELLO", "WORLD", "HELLO"]
    assert _sent(backend) == ["hello", "world"]  # identical calls are sent once
    assert usage_summary(results)["cost_total"] == 0.0 and results[0].completion_tokens == 2
    backend.sent.clear()
    assert all(
        r.cached for r in execute(calls, lambda: backend, CallCache(tmp_path / "c.jsonl"), CallPolicy())
    )
    assert backend.sent == []


# ---------------------------------------------------------------- model specs


def test_model_specs_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"generate.models\[1\].kind"):
        parse_model_specs([{"name": "a", "kind": "local"}, {"name": "b", "kind": "remote"}])
    with pytest.raises(ConfigError, match="unique"):
        parse_model_specs([{"name": "a", "kind": "local"}, {"name": "a", "kind": "local"}])
    with pytest.raises(ConfigError, match=r"models\[0\].model"):
        parse_model_specs([{"name": "a", "kind": "litellm"}, {"name": "b", "kind": "local"}])
    one = [{"name": "writer", "kind": "local"}]
    assert [spec.name for spec in parse_model_specs(one)] == ["writer"]  # one model samples candidates
    with pytest.raises(
        ConfigError, match=r"generate.models: need at least 2 model\(s\) to compare, got \['writer'\]"
    ):
        parse_model_specs(one, at_least=2)  # evaluate's response set compares models


def test_model_kind_is_never_guessed() -> None:
    """{name: gpt, model: gpt-4o} without kind used to become kind=local: the base model under the
    name gpt. Now the entry's kind is required (from the CLI, from generate.models, from a models file)."""
    with pytest.raises(ConfigError, match=r"generate.models\[1\].kind is missing"):
        parse_model_specs([{"name": "base", "kind": "local"}, {"name": "gpt", "model": "gpt-4o"}])
    with pytest.raises(ConfigError, match=r"generate.models\[0\].kind is missing"):
        parse_model_specs([{"name": "gpt", "kind": None, "path": None, "model": "gpt-4o"}])


def test_models_file_replaces_models_and_errors_name_the_file(tmp_path: Path) -> None:
    """The file stage=collect writes: base model + one checkpoint -> two local specs, in file order.
    Every problem with the file names it (and the JSON line, or the entry index)."""
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    models_file = tmp_path / "evaluate_models.json"
    models_file.write_text(
        json.dumps(
            [
                {"name": "base", "kind": "local", "path": None},
                {"name": "hard", "kind": "local", "path": str(checkpoint)},
            ]
        )
    )
    entries, source = model_entries([], models_file)
    assert parse_model_specs(entries, source) == [
        ModelSpec("base", "local"),
        ModelSpec("hard", "local", path=str(checkpoint)),
    ]
    assert model_entries([{"name": "a"}], None) == ([{"name": "a"}], "generate.models")
    with pytest.raises(ConfigError, match="both set"):
        model_entries([{"name": "a"}], models_file)
    with pytest.raises(ConfigError, match="no such file"):
        model_entries([], tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('[\n{"name": "base",\n')
    with pytest.raises(DataError, match=r"broken.json:3: not valid JSON"):
        model_entries([], broken)
    broken.write_text('{"name": "base"}')
    with pytest.raises(DataError, match=r"broken.json: expected a JSON list"):
        model_entries([], broken)
    broken.write_text(
        '[{"name": "base", "kind": "local"}, {"name": "gone", "kind": "local", "path": "/no/such/checkpoint"}]'
    )
    with pytest.raises(ConfigError, match=r"broken.json\[1\].path=/no/such/checkpoint: no such checkpoint"):
        parse_model_specs(*model_entries([], broken))
