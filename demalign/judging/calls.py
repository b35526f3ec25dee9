"""Chat calls keyed by a hash, an append-only JSONL cache, and an executor that survives real APIs.

A `ChatCall` is everything that determines an answer: who answers (`model`), the `messages`, the
generation `settings` and the `sample` index (judge k of n, or the n-th independent draw). Its
`key` is a sha256 of those four, so the same request always finds the same cache line.

`execute` answers a list of calls:

1. a call whose key has a cached answer that `accept` approves (e.g. a verdict that parses) is
   served from the cache; failed or unparseable answers are *not* approved, so they are re-asked on
   resume (some evaluators treat them as done forever);
2. the rest go to the backend: concurrently (`concurrency`, optional `requests_per_minute`) for an
   async API backend, optionally spread over `processes` forked client processes (litellm spends
   ~5 ms of CPU per call, so one event loop tops out near 200 calls/s against a fast server), in
   batches of `batch_size` for a local batch backend; transient failures
   (429, 5xx, timeouts) are retried with exponential backoff, waiting exactly `Retry-After` when the
   server sends one;
3. every finished answer is appended to the cache the moment it arrives, so a run killed at any
   point resumes without repeating a finished call; an answer `accept` rejects is re-asked up to
   `invalid_retries` times, and a call that still fails comes back with `text=None` and its error:
   callers record it as invalid, never drop it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tqdm.auto import tqdm

from demalign.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class ChatCall:
    """One chat request. `payload` is a structured view of the same request for backends that do
    not read prompts (the heuristic judge); it is derived from the messages, so it is not hashed."""

    model: str
    messages: list[dict[str, str]]
    settings: dict[str, Any] = field(default_factory=dict)
    sample: int = 0
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        canonical = json.dumps(
            [self.model, self.messages, self.settings, self.sample], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class Completion:
    """What a backend returns for one call; `cost` is None where the price is unknown."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None


@dataclass
class CallResult:
    """The outcome of one call after caching and retries. `text` is None when every attempt failed."""

    key: str
    text: str | None
    valid: bool
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency_s: float = 0.0


class TransientError(Exception):
    """A failure worth retrying (rate limit, server error, timeout); `retry_after` in seconds if the
    server said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CallFailed(Exception):
    """A failure retrying cannot fix for this one call (e.g. a refused request); recorded, not raised."""


@runtime_checkable
class AsyncBackend(Protocol):
    async def acomplete(self, call: ChatCall) -> Completion: ...


@runtime_checkable
class BatchBackend(Protocol):
    def complete_batch(self, calls: Sequence[ChatCall]) -> list[Completion]: ...


@dataclass(frozen=True)
class CallPolicy:
    """How calls are sent. Defaults suit a hosted API; local backends only use `batch_size`."""

    concurrency: int = 8
    requests_per_minute: float | None = None
    max_retries: int = 4
    retry_backoff: float = 1.0
    max_backoff: float = 60.0
    invalid_retries: int = 2
    batch_size: int = 8
    processes: int = 1  # client processes sharing `concurrency` and `requests_per_minute` (async APIs)


class CallCache:
    """Append-only JSONL of finished calls: `{key, model, sample, text, prompt_tokens,
    completion_tokens, cost}` per line. The latest approved line for a key wins. A line cut short by
    a killed writer is removed on open, so the next append starts on a fresh line. `path=None` keeps
    the cache in memory only."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._records: dict[str, list[dict[str, Any]]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            log.warning("%s: dropping a partial last line left by an interrupted run", self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for lineno, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record["key"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DataError(
                    f"{self.path}:{lineno}: not a cache record; delete the line (or the file to start afresh)"
                ) from None
            self._records.setdefault(key, []).append(record)

    def __len__(self) -> int:
        return len(self._records)

    def lookup(self, key: str, accept: Callable[[str], bool]) -> dict[str, Any] | None:
        """The latest cached record for `key` whose text `accept` approves, or None."""
        for record in reversed(self._records.get(key, [])):
            if accept(record["text"]):
                return record
        return None

    def append(self, record: dict[str, Any]) -> None:
        self._records.setdefault(record["key"], []).append(record)
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        # One write per line on an O_APPEND file: a kill leaves at most one partial last line.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (no limit when rpm is None)."""

    def __init__(self, requests_per_minute: float | None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        await asyncio.sleep(slot - now)


def backoff_delay(attempt: int, policy: CallPolicy, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's Retry-After if given,
    else retry_backoff * 2**attempt with ±10% jitter (so many workers do not return in lockstep),
    capped at max_backoff. E.g. backoff 1.0: about 1, 2, 4, 8 s."""
    if retry_after is not None:
        return max(0.0, retry_after)
    base = min(policy.max_backoff, policy.retry_backoff * 2**attempt)
    return base * random.uniform(0.9, 1.1)


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


async def _with_retries(
    backend: AsyncBackend, call: ChatCall, policy: CallPolicy, limiter: RateLimiter
) -> tuple[Completion | None, int, str | None]:
    for attempt in range(policy.max_retries + 1):
        await limiter.wait()
        try:
            return await backend.acomplete(call), attempt + 1, None
        except TransientError as err:
            if attempt == policy.max_retries:
                return None, attempt + 1, f"gave up after {attempt + 1} attempts: {err}"
            await asyncio.sleep(backoff_delay(attempt, policy, err.retry_after))
        except CallFailed as err:
            return None, attempt + 1, str(err)
    raise AssertionError("unreachable")


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """A loop's default executor that runs each submitted function at once in the calling thread.

    litellm hands the synchronous half of every `acompletion` (request building, parameter
    mapping) to the loop's default executor. Under the GIL that half gains nothing from a worker
    thread; the thread hop and the GIL hand-offs between the loop and 32 workers only add CPU
    (about a third of the client's time per call, tests/bench/bench_judging.py). What runs here is
    short and CPU-bound; aiohttp's DNS lookups also land here, once per new pooled connection.
    (asyncio accepts only a ThreadPoolExecutor as default executor, hence the base class.)
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the awaiting caller, as a worker thread would
            future.set_exception(err)
        return future


async def _run_async(
    backend: AsyncBackend, calls: list[ChatCall], policy: CallPolicy, on_done: Callable[..., None]
) -> None:
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    semaphore = asyncio.Semaphore(policy.concurrency)
    limiter = RateLimiter(policy.requests_per_minute)

    async def one(call: ChatCall) -> tuple[ChatCall, Completion | None, int, str | None, float]:
        async with semaphore:
            start = time.perf_counter()
            completion, attempts, error = await _with_retries(backend, call, policy, limiter)
            return call, completion, attempts, error, time.perf_counter() - start

    for finished in asyncio.as_completed([one(call) for call in calls]):
        on_done(*(await finished))


def _client_process(
    get_backend: Callable[[], AsyncBackend], calls: list[ChatCall], policy: CallPolicy,
    channel: multiprocessing.connection.Connection, parent: int,
) -> None:  # fmt: skip
    """Body of one forked client process: answer `calls` and send each outcome to the parent."""

    def send(call: ChatCall, *outcome: Any) -> None:
        if os.getppid() != parent:  # the run was killed: stop rather than make calls nobody records
            os._exit(1)
        channel.send((call.key, *outcome))

    try:
        asyncio.run(_run_async(get_backend(), calls, policy, send))
    except BaseException as err:  # re-raised in the parent, e.g. a ConfigError for a rejected key
        try:
            channel.send(err)
        except Exception:  # an exception that does not pickle still ends the run, by name
            channel.send(RuntimeError(f"{type(err).__name__}: {err}"))
    finally:
        channel.close()


def _run_in_processes(
    get_backend: Callable[[], AsyncBackend], calls: list[ChatCall], policy: CallPolicy,
    on_done: Callable[..., None],
) -> None:  # fmt: skip
    """Split `calls` over `policy.processes` forked client processes, each with its share of the
    concurrency and rate limit. Outcomes come back through pipes and `on_done` runs here, so the
    cache keeps a single writer and a killed run loses nothing it recorded. Forked (not spawned)
    because a fresh interpreter spends seconds importing litellm."""
    count = min(policy.processes, len(calls))
    if "fork" not in multiprocessing.get_all_start_methods():
        raise ConfigError(f"processes={policy.processes} needs os.fork (Linux/macOS); set it to 1 here")
    context = multiprocessing.get_context("fork")
    share = dataclasses.replace(
        policy,
        concurrency=max(1, policy.concurrency // count),
        requests_per_minute=policy.requests_per_minute / count if policy.requests_per_minute else None,
    )
    by_key = {call.key: call for call in calls}
    open_channels, workers = [], []
    for index in range(count):
        receiver, sender = context.Pipe(duplex=False)
        worker = context.Process(
            target=_client_process,
            args=(get_backend, calls[index::count], share, sender, os.getpid()),
            daemon=True,
        )
        worker.start()
        sender.close()
        open_channels.append(receiver)
        workers.append(worker)
    try:
        while open_channels:
            for channel in multiprocessing.connection.wait(open_channels):
                try:
                    message = channel.recv()
                except EOFError:  # that process is done (or died: its unanswered calls stay unanswered)
                    open_channels.remove(channel)
                    continue
                if isinstance(message, BaseException):
                    raise message
                key, *outcome = message
                on_done(by_key.pop(key), *outcome)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    codes = sorted({worker.exitcode for worker in workers if worker.exitcode})
    for call in by_key.values():  # a process that died (e.g. out of memory) left these unanswered
        on_done(call, None, 0, f"client process exited (code {codes}) before answering", 0.0)


def _run_batches(
    backend: BatchBackend, calls: list[ChatCall], policy: CallPolicy, on_done: Callable[..., None]
) -> None:
    for start in range(0, len(calls), policy.batch_size):
        chunk = calls[start : start + policy.batch_size]
        began = time.perf_counter()
        completions = backend.complete_batch(chunk)
        latency = (time.perf_counter() - began) / len(chunk)
        for call, completion in zip(chunk, completions, strict=True):
            on_done(call, completion, 1, None, latency)


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
            _run_in_processes(get_backend, todo, policy, on_done)
        elif isinstance(backend, AsyncBackend):
            asyncio.run(_run_async(backend, todo, policy, on_done))
        else:
            _run_batches(backend, todo, policy, on_done)
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
