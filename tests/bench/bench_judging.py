"""Judge throughput through litellm against the loopback server with 100 ms latency per request.

The server runs in its own process so it shares no GIL with the client. Prints calls/s at
concurrency 32 (ours, over one client process per core) and at concurrency 1 (the reference: one
call at a time, as sequential evaluators do), their ratio (target >= 20x), and the request count of
a fully cached rerun (target 0).

Why one process is not enough: at concurrency 32 the client is CPU-bound, not latency-bound. The
bench also prints one process's ceiling (calls/s against a second server that answers at once) and
the CPU milliseconds per call of client and server: 32 / 0.1 s = 320 calls/s needs <= ~3 ms of
client CPU per call, and litellm alone spends 5-8 ms on this machine. Hence `client_processes`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from demalign.judging.pairwise import parse_pairwise
from demalign.judging.prompts import judge_messages
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, ChatCall
from demalign.llm.execute import execute
from demalign.llm.litellm_backend import LiteLLMBackend

LATENCY_S = 0.1
CALLS = 512
SERIAL_CALLS = 64  # the serial reference takes ~0.1 s per call, so it runs on fewer calls


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def loopback_server(latency: float) -> Iterator[tuple[str, int]]:
    """A loopback judge server in its own process: (base_url, pid)."""
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen([sys.executable, "-m", "tests.judge_server", "--latency", str(latency)],
                              cwd=root, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield server.stdout.readline().strip(), server.pid  # type: ignore[union-attr]
    finally:
        server.kill()
        server.wait()


def _calls(tag: str, n: int) -> list[ChatCall]:
    return [
        ChatCall(
            "gpt-5.2", judge_messages("pairwise", "Be honest.", f"{tag} question {i}?", ["yes", "no"]), {}
        )
        for i in range(n)
    ]


def _throughput(
    backend: LiteLLMBackend,
    concurrency: int,
    cache_path: Path | None,
    calls: list[ChatCall],
    processes: int = 1,
) -> float:
    policy = CallPolicy(concurrency=concurrency, max_retries=3, retry_backoff=0.05, processes=processes)
    start = time.perf_counter()
    results = execute(
        calls, lambda: backend, CallCache(cache_path), policy, lambda t: parse_pairwise(t) is not None
    )
    elapsed = time.perf_counter() - start
    assert all(r.valid for r in results)
    return len(calls) / elapsed


def _server_requests(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as response:
        return int(json.load(response)["requests"])


def main() -> None:
    os.environ.setdefault("DEMALIGN_BENCH_KEY", "sk-bench")
    processes = max(2, os.cpu_count() or 1)
    with loopback_server(LATENCY_S) as (base_url, _), tempfile.TemporaryDirectory() as tmp:
        backend = LiteLLMBackend("gpt-5.2", base_url, "DEMALIGN_BENCH_KEY", timeout=30, config_key="judge")
        _throughput(backend, 32, None, _calls("warm-up", 32))  # imports, connection pool
        ours = _throughput(backend, 32, Path(tmp) / "c32.jsonl", _calls("c32", CALLS), processes)
        one_process = _throughput(backend, 32, None, _calls("c32-one-process", CALLS))
        reference = _throughput(backend, 1, None, _calls("serial", SERIAL_CALLS))
        before = _server_requests(base_url)
        rerun = _throughput(backend, 32, Path(tmp) / "c32.jsonl", _calls("c32", CALLS), processes)
        cached_requests = _server_requests(base_url) - before
    with loopback_server(0.0) as (base_url, pid):
        backend = LiteLLMBackend("gpt-5.2", base_url, "DEMALIGN_BENCH_KEY", timeout=30, config_key="judge")
        _throughput(backend, 32, None, _calls("warm-up", 32))
        client_cpu, server_cpu = time.process_time(), _cpu_seconds(pid)
        ceiling = _throughput(backend, 32, None, _calls("ceiling", CALLS))
        client_ms = (time.process_time() - client_cpu) * 1000 / CALLS
        server_ms = (_cpu_seconds(pid) - server_cpu) * 1000 / CALLS
    print(f"judge calls/s, {LATENCY_S * 1000:.0f} ms server latency: concurrency 32 over {processes} client processes = {ours:.1f} "
          f"({CALLS} calls); reference concurrency 1 = {reference:.1f} ({SERIAL_CALLS} calls); ratio {ours / reference:.1f}x (target >= 20x)")  # fmt: skip
    print(
        f"  concurrency 32 in one process = {one_process:.1f} calls/s, ratio {one_process / reference:.1f}x"
    )
    print(
        f"one process's ceiling (instant server, concurrency 32): {ceiling:.1f} calls/s; CPU per call: client "
        f"{client_ms:.2f} ms, server {server_ms:.2f} ms ({os.cpu_count()} cores, shared)"
    )
    print(f"fully cached rerun of {CALLS} calls: {cached_requests} requests (target 0), {rerun:.0f} calls/s")
