"""Curation throughput (issue 13), each figure beside its reference measured in the same run:

1. critique calls/s through litellm against the loopback server (its own process) at 1 s latency
   (a realistic hosted critic) and at 100 ms: concurrency 32 (ours) vs concurrency 1 (the seed's
   critic scored one candidate at a time);
2. candidate generation on the tiny model: batches of 8 (ours) vs one prompt at a time (the seed's
   loop), greedy, same prompts and budget, tokens/s;
3. SFT train samples/s: `WeightedSFTTrainer` (weights 1 and 2) vs stock `trl.SFTTrainer` on the same
   rows, alternating runs, median (target: overhead <= 5%).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from demalign.judging.pointwise import ScoreScale, critique_accept, critique_messages
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, ChatCall
from demalign.llm.execute import execute
from demalign.llm.litellm_backend import LiteLLMBackend
from tests.bench.bench_judging import loopback_server

RUBRIC = "1. Refuse to help with violence.\n2. Be helpful and concise otherwise."
CRITIQUE_RUNS = {1.0: (8, 128), 0.1: (32, 512)}  # latency -> (calls at concurrency 1, calls at 32)
GENERATION_PROMPTS, NEW_TOKENS = 32, 32
SFT_ROWS, SFT_BATCH, SFT_REPEATS = 64, 8, 3


def critique_calls(tag: str, n: int) -> list[ChatCall]:
    scale = ScoreScale()
    return [
        ChatCall(
            "critic", critique_messages(RUBRIC, f"{tag} prompt {i}?", f"Candidate answer {i}.", scale), {}
        )
        for i in range(n)
    ]


def critique_rate(backend: LiteLLMBackend, concurrency: int, calls: list[ChatCall]) -> float:
    policy = CallPolicy(concurrency=concurrency, max_retries=3, retry_backoff=0.05)
    start = time.perf_counter()
    results = execute(calls, lambda: backend, CallCache(None), policy, critique_accept())
    elapsed = time.perf_counter() - start
    assert all(r.valid for r in results)
    return len(calls) / elapsed


def bench_critique() -> None:
    os.environ.setdefault("DEMALIGN_BENCH_KEY", "sk-bench")
    for latency, (serial_n, concurrent_n) in CRITIQUE_RUNS.items():
        with loopback_server(latency) as (base_url, _):
            backend = LiteLLMBackend("critic", base_url, "DEMALIGN_BENCH_KEY", timeout=30, config_key="judge")
            critique_rate(backend, 32, critique_calls("warm-up", 32))
            ours = critique_rate(backend, 32, critique_calls(f"c32-{latency}", concurrent_n))
            reference = critique_rate(backend, 1, critique_calls(f"c1-{latency}", serial_n))
        print(f"critique calls/s at {latency * 1000:.0f} ms latency: concurrency 32 = {ours:.1f} ({concurrent_n} calls); "
              f"reference concurrency 1 = {reference:.2f} ({serial_n} calls); ratio {ours / reference:.1f}x")  # fmt: skip


def bench_generation(model_path: str) -> None:
    from demalign.llm.local import TransformersBackend

    backend = TransformersBackend(
        model_path, {"name": "tiny", "source": "tiny"}, None, NEW_TOKENS, False, 1.0, 0
    )
    calls = [ChatCall("tiny", [{"role": "user", "content": f"Explain topic number {i} briefly."}])
             for i in range(GENERATION_PROMPTS)]  # fmt: skip
    backend.complete_batch(calls[:2])  # warm-up

    def tokens_per_second(batch: int) -> tuple[float, list[str]]:
        start, texts, tokens = time.perf_counter(), [], 0
        for i in range(0, len(calls), batch):
            done = backend.complete_batch(calls[i : i + batch])
            texts += [c.text for c in done]
            tokens += sum(c.completion_tokens for c in done)
        return tokens / (time.perf_counter() - start), texts

    ours, batched = tokens_per_second(8)
    reference, single = tokens_per_second(1)
    same = sum(a == b for a, b in zip(batched, single, strict=True))
    print(f"candidate generation, tiny model, {GENERATION_PROMPTS} prompts x {NEW_TOKENS} new tokens, greedy: "
          f"batch 8 = {ours:.0f} tokens/s; reference one at a time = {reference:.0f} tokens/s; ratio "
          f"{ours / reference:.1f}x; identical answers {same}/{GENERATION_PROMPTS}")  # fmt: skip


def sft_samples_per_second(weighted: bool, model_path: str, rows: list[dict], out: Path) -> float:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from demalign.training.sft import WeightedSFTTrainer

    data = [dict(r, weight=1.0 + (i % 2)) for i, r in enumerate(rows)] if weighted else rows
    args = SFTConfig(
        output_dir=str(out), per_device_train_batch_size=SFT_BATCH, num_train_epochs=1, report_to="none",
        bf16=False, gradient_checkpointing=False, use_cpu=True, max_length=256, completion_only_loss=True,
        logging_steps=1000, save_strategy="no", disable_tqdm=True, seed=0, log_level="error",
    )  # fmt: skip
    trainer_class = WeightedSFTTrainer if weighted else SFTTrainer
    trainer = trainer_class(model=model_path, args=args, train_dataset=Dataset.from_list(data),
                            processing_class=AutoTokenizer.from_pretrained(model_path))  # fmt: skip
    return float(trainer.train().metrics["train_samples_per_second"])


def bench_sft(model_path: str) -> None:
    from demalign.training.synthetic import synthetic_sft_rows

    rows = synthetic_sft_rows(SFT_ROWS, seed=0, fmt="prompt_completion", chat=False)
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(SFT_REPEATS):
            for weighted in (False, True):
                results[weighted].append(sft_samples_per_second(weighted, model_path, rows, Path(tmp)))
    stock, ours = statistics.median(results[False]), statistics.median(results[True])
    runs = {k: ", ".join(f"{x:.1f}" for x in v) for k, v in results.items()}
    print(
        f"SFT, tiny model, {SFT_ROWS} rows, batch {SFT_BATCH}, 1 thread, median of {SFT_REPEATS} alternating runs:"
    )
    print(f"  stock trl.SFTTrainer:  {stock:8.2f} samples/s  (runs: {runs[False]})")
    print(f"  WeightedSFTTrainer:    {ours:8.2f} samples/s  (runs: {runs[True]})")
    print(f"  ratio weighted/stock:  {ours / stock:8.3f}  (target >= 0.95)")


def main() -> None:
    import datasets
    import transformers

    from demalign.training.tiny import ensure_tiny_model

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()

    bench_critique()
    torch.set_num_threads(1)
    model_path = str(ensure_tiny_model(Path(tempfile.gettempdir()) / "demalign-test-cache"))
    bench_generation(model_path)
    bench_sft(model_path)
