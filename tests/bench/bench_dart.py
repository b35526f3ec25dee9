"""DART: audit scoring throughput of the offline scorer, and teacher calls at concurrency 32 vs 1.

1. Audit scoring (items/s, an item = one baseline/tuned pair, 4 texts: 2 views x 2 models) with the
   `profanity_check` scorer through `dart.audit.score_pairs` (each distinct text scored once, one
   batch per scorer). Reference, in the same run: the same package called once per text, as a
   per-item scoring loop does (the released DART audit scores text by text behind a cache).
2. Teacher calls/s through litellm against the loopback server (own process, 1 s latency per request)
   with `dart.teacher.run_teacher`: concurrency 32 (ours) over 64 distillation tasks vs concurrency 1
   (the reference, sequential calls) over 16 tasks; then the request count of a fully cached rerun.
   Calls include the format-fix rounds, which wait for the round before them (so 64 tasks at
   concurrency 32 take about four latencies, not two).
"""

from __future__ import annotations

import os
import tempfile
import time
import urllib.request
from pathlib import Path

from demalign.dart.audit import PairRow, score_pairs
from demalign.dart.scorers import ProfanityCheckScorer
from demalign.dart.tasks import TaskRow, load_tasks
from demalign.dart.teacher import TeacherJob, run_teacher, teacher_role
from demalign.llm.cache import CallCache
from tests.bench.bench_judging import loopback_server

PAIRS = 2000
REFERENCE_PAIRS = 100  # ~15 ms per single-text call: the per-text reference runs on fewer pairs
LATENCY_S = 1.0
TEACHER_CALLS = 64
SERIAL_CALLS = 16  # one call per second: the sequential reference runs on fewer calls


def _pairs(n: int) -> list[PairRow]:
    tasks = load_tasks()
    out = []
    for i in range(n):
        task = tasks[i % len(tasks)]
        task = TaskRow(f"{task.id}-{i}", task.question, task.label, task.benchmark, task.condition)
        a = (f"Answer {i}: the groups in this question do not differ in a way that matters. Treating them alike is "
             f"correct here, and assuming otherwise would be unfair.\nConclusion: {task.label}")  # fmt: skip
        b = (f"Reply {i}: this is a question where a real difference exists. A careful answer names it without "
             f"judging anyone, damn it, because accuracy matters.\nConclusion: {task.label}")  # fmt: skip
        out.append(PairRow(task, a, b))
    return out


def bench_scoring() -> None:
    from profanity_check import predict_prob

    pairs = _pairs(PAIRS)
    scorer = ProfanityCheckScorer("profanity")
    score_pairs(pairs[:10], [scorer])  # load the model once
    start = time.perf_counter()
    score_pairs(pairs, [scorer])
    ours = PAIRS / (time.perf_counter() - start)
    texts = [t for p in pairs[:REFERENCE_PAIRS] for t in (p.a_text, p.b_text)]
    views = [v for t in texts for v in (t, t.rsplit("\nConclusion:", 1)[0])]
    start = time.perf_counter()
    for text in views:
        predict_prob([text[:512]])
    reference = REFERENCE_PAIRS / (time.perf_counter() - start)
    print(f"audit scoring, profanity_check: {ours:,.0f} pairs/s ({PAIRS} pairs, 4 texts each, batched and "
          f"de-duplicated); reference per-text calls = {reference:,.0f} pairs/s ({REFERENCE_PAIRS} pairs); ratio {ours / reference:.1f}x")  # fmt: skip


def _teacher(base_url: str, concurrency: int) -> dict:
    return {"backend": "litellm", "model": "teacher", "base_url": base_url, "api_key_env": "DEMALIGN_BENCH_KEY",
            "temperature": 0.2, "max_output_tokens": 256, "seed": None, "timeout": 30, "concurrency": concurrency,
            "requests_per_minute": None, "client_processes": 1, "max_retries": 3, "retry_backoff": 0.05,
            "max_backoff": 1.0, "format_fix_rounds": 2}  # fmt: skip


def _calls_per_second(
    base_url: str, concurrency: int, jobs: list[TeacherJob], cache: Path | None
) -> tuple[float, int]:
    role = teacher_role(_teacher(base_url, concurrency))
    start = time.perf_counter()
    outcome = run_teacher(jobs, role, CallCache(cache), 2)
    elapsed = time.perf_counter() - start
    assert outcome.drop_counts()["call_failed"] == 0
    return len(outcome.calls) / elapsed, len(outcome.calls)


def _requests(base_url: str) -> int:
    import json

    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/stats") as response:
        return int(json.load(response)["requests"])


def bench_teacher() -> None:
    os.environ.setdefault("DEMALIGN_BENCH_KEY", "sk-bench")
    tasks = load_tasks()
    jobs = [TeacherJob(t) for t in tasks[:TEACHER_CALLS]]
    serial = [TeacherJob(t) for t in tasks[TEACHER_CALLS : TEACHER_CALLS + SERIAL_CALLS]]
    with loopback_server(LATENCY_S) as (base_url, _), tempfile.TemporaryDirectory() as tmp:
        _calls_per_second(base_url, 4, [TeacherJob(tasks[-1])], None)  # imports, connection pool
        ours, n_ours = _calls_per_second(base_url, 32, jobs, Path(tmp) / "c32.jsonl")
        reference, n_ref = _calls_per_second(base_url, 1, serial, None)
        before = _requests(base_url)
        _calls_per_second(base_url, 32, jobs, Path(tmp) / "c32.jsonl")
        cached = _requests(base_url) - before
    print(f"teacher calls/s, {LATENCY_S:.0f} s server latency: concurrency 32 = {ours:.1f} ({n_ours} calls incl. "
          f"format-fix rounds); reference concurrency 1 = {reference:.2f} ({n_ref} calls); ratio {ours / reference:.1f}x")  # fmt: skip
    print(f"fully cached rerun of the {n_ours} teacher calls: {cached} requests (target 0)")


def main() -> None:
    bench_scoring()
    bench_teacher()
