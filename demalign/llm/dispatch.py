"""How pending calls reach a backend: concurrently on one event loop (rate limit, retries with
backoff) for an async API backend, spread over forked client processes for high throughput, or in
batches for a local batch backend. Each finished call is reported through `on_done(call,
completion | None, attempts, error, latency_s)`; caching and validation belong to `execute`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import random
import time
from collections.abc import Callable
from typing import Any

from demalign.errors import ConfigError
from demalign.llm.calls import (
    AsyncBackend,
    BatchBackend,
    CallFailed,
    CallPolicy,
    ChatCall,
    Completion,
    TransientError,
)


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


async def run_async(
    backend: AsyncBackend, calls: list[ChatCall], policy: CallPolicy, on_done: Callable[..., None]
) -> None:
    """Answer `calls` on the running loop, at most `policy.concurrency` at a time; outcomes are
    reported in completion order (a slow call does not hold back the cache writes of fast ones)."""
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
        asyncio.run(run_async(get_backend(), calls, policy, send))
    except BaseException as err:  # re-raised in the parent, e.g. a ConfigError for a rejected key
        try:
            channel.send(err)
        except Exception:  # an exception that does not pickle still ends the run, by name
            channel.send(RuntimeError(f"{type(err).__name__}: {err}"))
    finally:
        channel.close()


def run_in_processes(
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
            # Stop workers only when interrupted: one whose pipe is closed is exiting on its own, and
            # terminating it then would report a SIGTERM as if it had died.
            if open_channels and worker.is_alive():
                worker.terminate()
            worker.join()
    codes = sorted({worker.exitcode for worker in workers if worker.exitcode})
    for call in by_key.values():  # a process that died (e.g. out of memory) left these unanswered
        on_done(call, None, 0, f"client process exited (code {codes}) before answering", 0.0)


def run_batches(
    backend: BatchBackend, calls: list[ChatCall], policy: CallPolicy, on_done: Callable[..., None]
) -> None:
    """Answer `calls` in chunks of `policy.batch_size` (a local model generates a batch at once);
    latency is the batch's time shared equally among its calls."""
    for start in range(0, len(calls), policy.batch_size):
        chunk = calls[start : start + policy.batch_size]
        began = time.perf_counter()
        completions = backend.complete_batch(chunk)
        latency = (time.perf_counter() - began) / len(chunk)
        for call, completion in zip(chunk, completions, strict=True):
            on_done(call, completion, 1, None, latency)
