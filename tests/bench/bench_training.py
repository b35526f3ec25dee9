"""Weighted DPO vs stock TRL throughput (train samples/s) on the same tiny model and pairs, one process.

Runs alternate (stock, weighted, stock, weighted, ...) so machine-load drift hits both alike; the
figure is the median of each. Target: weighted/stock ≥ 0.95 (overhead ≤ 5%).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import torch

PAIRS, BATCH, REPEATS = 128, 8, 3


def samples_per_second(weighted: bool, model_path: str, rows: list[dict], out: Path) -> float:
    from trl import DPOConfig

    from demalign.training.data import to_dataset
    from demalign.training.weighted_dpo import trainer_class

    keep = ("prompt", "chosen", "rejected", "weight") if weighted else ("prompt", "chosen", "rejected")
    dataset = to_dataset([{k: r[k] for k in keep} for r in rows], "bench")
    args = DPOConfig(
        output_dir=str(out), per_device_train_batch_size=BATCH, num_train_epochs=1, report_to="none",
        bf16=False, gradient_checkpointing=False, use_cpu=True, max_length=256, logging_steps=1000,
        save_strategy="no", disable_tqdm=True, seed=0,
    )  # fmt: skip
    trainer = trainer_class(weighted)(model=model_path, args=args, train_dataset=dataset)
    return float(trainer.train().metrics["train_samples_per_second"])


def main() -> None:
    from demalign.training.synthetic import synthetic_pairs
    from demalign.training.tiny import ensure_tiny_model

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = str(ensure_tiny_model(Path(tempfile.gettempdir()) / "demalign-test-cache"))
        rows = synthetic_pairs(PAIRS, seed=0)
        results: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(REPEATS):
            for weighted in (False, True):
                results[weighted].append(samples_per_second(weighted, model_path, rows, Path(tmp)))
    stock, ours = statistics.median(results[False]), statistics.median(results[True])
    print(f"tiny h64-l2, {PAIRS} pairs, batch {BATCH}, 1 thread, median of {REPEATS} alternating runs")
    print(
        f"stock trl.DPOTrainer:  {stock:8.2f} samples/s  (runs: {', '.join(f'{x:.1f}' for x in results[False])})"
    )
    print(
        f"WeightedDPOTrainer:    {ours:8.2f} samples/s  (runs: {', '.join(f'{x:.1f}' for x in results[True])})"
    )
    print(f"ratio weighted/stock:  {ours / stock:8.3f}  (target >= 0.95)")
