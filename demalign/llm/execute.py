"""`execute`: answer a list of calls through the cache, and `usage_summary`: what they cost.

1. a call whose key has a cached answer that `accept` approves (e.g. a verdict that parses) is
   served from the cache; failed or unparseable answers are *not* approved, so they are re-asked on
   resume (some evaluators treat them as done forever);
2. the rest go to the backend (`dispatch`): concurrently (`concurrency`, optional
   `requests_per_minute`) for an async API backend, optionally spread over `processes` forked
   client processes (litellm spends ~5 ms of CPU per call, so one event loop tops out near 200
   calls/s against a fast server), in batches of `batch_size` for a local batch backend; transient
   failures (429, 5xx, timeouts) are retried with exponential backoff, waiting exactly
   `Retry-After` when the server sends one;
3. every finished answer is appended to the cache the moment it arrives, so a run killed at any
   point resumes without repeating a finished call; an answer `accept` rejects is re-asked up to
   `invalid_retries` times, and a call that still fails comes back with `text=None` and its error:
   callers record it as invalid, never drop it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from demalign.llm.cache import CallCache
from demalign.llm.calls import AsyncBackend, BatchBackend, CallPolicy, CallResult, ChatCall, Completion
from demalign.llm.dispatch import run_async, run_batches, run_in_processes


def _record(call: ChatCall, completion: Completion) -> dict[str, Any]:
    return {
        "key": call.key,
        "model": call.model,
        "sample": call.sample,
        "text": completion.text,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost": completion.cost,
    }


def execute(
    calls: Sequence[ChatCall],
    get_backend: Callable[[], AsyncBackend | BatchBackend],
    cache: CallCache,
    policy: CallPolicy,
    accept: Callable[[str], bool] = lambda text: True,
    force: bool = False,
    desc: str = "calls",
) -> list[CallResult]:
    """Answer `calls` (see the module docstring); results come back in the order of `calls`.
    Identical calls (same key) are sent once. `get_backend` is called only if some call is not
    cached, so a fully cached rerun loads no model and needs no API key. `force=True` ignores cached
    answers (new answers are still appended, so nothing is lost)."""
    results: dict[str, CallResult] = {}
    pending: dict[str, ChatCall] = {}
    for call in calls:
        key = call.key
        if key in results or key in pending:
            continue
        hit = None if force else cache.lookup(key, accept)
        if hit is None:
            pending[key] = call
            continue
        results[key] = CallResult(
            key=key,
            text=hit["text"],
            valid=True,
            cached=True,
            prompt_tokens=hit.get("prompt_tokens", 0),
            completion_tokens=hit.get("completion_tokens", 0),
            cost=hit.get("cost"),
        )

    progress = tqdm(total=len(pending), desc=desc, unit="call", disable=None, leave=False)

    def on_done(
        call: ChatCall, completion: Completion | None, attempts: int, error: str | None, latency: float
    ) -> None:
        previous = results.get(call.key)
        attempts += previous.attempts if previous else 0
        if completion is None:
            results[call.key] = CallResult(
                key=call.key, text=None, valid=False, error=error, attempts=attempts
            )
        else:
            cache.append(_record(call, completion))
            results[call.key] = CallResult(
                key=call.key,
                text=completion.text,
                valid=accept(completion.text),
                attempts=attempts,
                prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                cost=completion.cost,
                latency_s=latency,
            )
        progress.update(0 if previous else 1)

    todo = list(pending.values())
    backend = get_backend() if todo else None
    for _ in range(policy.invalid_retries + 1):
        if not todo:
            break
        if isinstance(backend, AsyncBackend) and policy.processes > 1 and len(todo) > 1:
            run_in_processes(get_backend, todo, policy, on_done)
        elif isinstance(backend, AsyncBackend):
            asyncio.run(run_async(backend, todo, policy, on_done))
        else:
            run_batches(backend, todo, policy, on_done)
        # Re-ask only answers that arrived but do not parse; calls that failed already used their retries.
        todo = [call for call in todo if results[call.key].text is not None and not results[call.key].valid]
    progress.close()
    return [results[call.key] for call in calls]


def usage_summary(results: Sequence[CallResult]) -> dict[str, Any]:
    """Totals over distinct calls: how many were new, cached, failed or unparseable, their tokens
    and cost. `cost_new` is what this run paid; `cost_total` what the whole evaluation costs from
    scratch (None when some price is unknown)."""
    first: dict[str, CallResult] = {}
    for result in results:
        first.setdefault(result.key, result)  # a repeat of a call in the same run is served from the first
    distinct = first.values()
    new = [r for r in distinct if not r.cached]
    costs_known = all(r.cost is not None for r in distinct if r.text is not None)
    return {
        "calls": len(distinct),
        "new_calls": len(new),
        "cached_calls": len(distinct) - len(new),
        "attempts": sum(r.attempts for r in new),
        "failed": sum(r.text is None for r in distinct),
        "invalid": sum(r.text is not None and not r.valid for r in distinct),
        "prompt_tokens": sum(r.prompt_tokens for r in distinct),
        "completion_tokens": sum(r.completion_tokens for r in distinct),
        "new_prompt_tokens": sum(r.prompt_tokens for r in new),
        "new_completion_tokens": sum(r.completion_tokens for r in new),
        "cost_new": sum(r.cost or 0.0 for r in new) if costs_known else None,
        "cost_total": sum(r.cost or 0.0 for r in distinct) if costs_known else None,
    }


USAGE_COLUMNS = ["part", "calls", "new_calls", "cached_calls", "attempts", "failed", "invalid", "prompt_tokens",
                 "completion_tokens", "cost_new", "cost_total"]  # fmt: skip


def usage_rows(part: str, calls: Sequence[ChatCall], results: Sequence[CallResult]) -> list[dict[str, Any]]:
    """One `usage.jsonl` row per distinct call: who answered, cached or new, tokens, cost, latency."""
    seen: set[str] = set()
    rows = []
    for call, result in zip(calls, results, strict=True):
        if result.key in seen:
            continue
        seen.add(result.key)
        rows.append({"part": part, "key": result.key, "model": call.model, "sample": call.sample, "cached": result.cached,
                     "attempts": result.attempts, "valid": result.valid, "prompt_tokens": result.prompt_tokens,
                     "completion_tokens": result.completion_tokens, "cost": result.cost,
                     "latency_s": round(result.latency_s, 4), "error": result.error})  # fmt: skip
    return rows


def usage_section(usage: Sequence[dict[str, Any]]) -> str:
    """The report's tokens-and-cost table, one row per part, with what its columns mean."""
    from demalign.reports import markdown_table

    return (
        "Distinct calls (per call in `usage.jsonl`); new = sent in this run, cached = served from the call "
        "cache. Cost in USD from litellm's prices (empty = unknown price; local models and the heuristic judge "
        f"cost 0).\n\n{markdown_table(list(usage), USAGE_COLUMNS)}"
    )
