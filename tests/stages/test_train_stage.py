"""stage=train on a tiny model on CPU: loss decreases, the checkpoint reloads and generates, LoRA,
resume from checkpoint, and a dataset without weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from demalign.artifacts import Run, read_jsonl, write_jsonl
from demalign.run import run_configured
from demalign.training.synthetic import synthetic_pairs
from tests.unit.test_training_weighted import CACHE

torch.set_num_threads(1)
FAST = ["stage=train", "trainer.per_device_train_batch_size=4", "trainer.gradient_accumulation_steps=1", "trainer.logging_steps=1",
        "trainer.max_length=96", "trainer.learning_rate=1e-3", "trainer.eval_steps=4", f"paths.cache_dir={CACHE}"]  # fmt: skip


def dataset(tmp_path: Path, n: int = 16, weighted: bool = True) -> Path:
    path = tmp_path / "dataset.jsonl"
    write_jsonl(path, synthetic_pairs(n, seed=5, weighted=weighted))
    return path


def run_train(make_cfg, tmp_path: Path, name: str, *overrides: str) -> Run:
    return run_configured(make_cfg(*FAST, *overrides), tmp_path / name)


def test_weighted_training_learns_and_checkpoint_reloads_and_generates(make_cfg, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = run_train(make_cfg, tmp_path, "run", f"train.dataset={dataset(tmp_path)}", "train.eval_ratio=0.25",
                    "trainer.num_train_epochs=2")  # fmt: skip
    rows = read_jsonl(run.dir / "train_metrics.jsonl")
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 6  # 12 train pairs / batch 4 × 2 epochs
    # Each step starts near mean(w)·log 2 (policy = reference); over 2 epochs on an easy preference the
    # last epoch's mean loss must be clearly below the first's (same batches, shuffled).
    assert sum(losses[3:]) < 0.8 * sum(losses[:3])
    assert run.metrics["weighted"] is True and (run.metrics["train_pairs"], run.metrics["eval_pairs"]) == (
        12,
        4,
    )
    assert "eval_loss" in run.metrics
    assert "checkpoint/model.safetensors" in run.outputs and "training_curves.png" in run.outputs
    assert "![training_curves.png]" in (run.dir / "report.md").read_text()

    tokenizer = AutoTokenizer.from_pretrained(run.dir / "checkpoint")
    model = AutoModelForCausalLM.from_pretrained(run.dir / "checkpoint")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)  # fmt: skip
    out = model.generate(**prompt, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def test_lora_run_saves_an_adapter(make_cfg, tmp_path: Path) -> None:
    run = run_train(make_cfg, tmp_path, "lora", f"train.dataset={dataset(tmp_path, 8)}", "train.eval_ratio=0",
                    "trainer=dpo_lora", "trainer.peft.r=4", "trainer.num_train_epochs=1")  # fmt: skip
    adapter = json.loads((run.dir / "checkpoint" / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and not (run.dir / "checkpoint" / "model.safetensors").exists()
    assert (run.dir / "checkpoint" / "tokenizer.json").exists()


def test_resume_from_checkpoint_continues_to_the_same_end(make_cfg, tmp_path: Path) -> None:
    """Save every 2 steps; resuming the 4-step run from checkpoint-2 runs only steps 3-4 (the Trainer's
    train_loss is the mean loss of the steps it executed) and ends with the same weights."""
    data = f"train.dataset={dataset(tmp_path, 8)}"
    common = [data, "train.eval_ratio=0", "trainer.num_train_epochs=2", "trainer.save_strategy=steps",
              "trainer.save_steps=2"]  # fmt: skip
    first = run_train(make_cfg, tmp_path, "first", *common)
    checkpoint = first.dir / "trainer_checkpoints" / "checkpoint-2"
    resumed = run_train(make_cfg, tmp_path, "resumed", *common, f"train.resume_from_checkpoint={checkpoint}")
    losses = {r["step"]: r["loss"] for r in read_jsonl(first.dir / "train_metrics.jsonl") if "loss" in r}
    assert first.metrics["train_loss"] == pytest.approx(sum(losses.values()) / 4, rel=1e-4)
    assert resumed.metrics["train_loss"] == pytest.approx((losses[3] + losses[4]) / 2, rel=1e-4)
    assert (first.dir / "checkpoint/model.safetensors").read_bytes() == (
        resumed.dir / "checkpoint/model.safetensors"
    ).read_bytes()


def test_dataset_without_weight_trains_unweighted(make_cfg, tmp_path: Path) -> None:
    run = run_train(make_cfg, tmp_path, "plain", f"train.dataset={dataset(tmp_path, 8, weighted=False)}",
                    "train.eval_ratio=0", "trainer.num_train_epochs=1", "dataset.format=raw")  # fmt: skip
    assert run.metrics["weighted"] is False
    assert "unweighted" in (run.dir / "report.md").read_text()


def test_pairs_trl_drops_entirely_are_an_error_naming_max_length(make_cfg, tmp_path: Path) -> None:
    """TRL drops a DPO pair whose prompt alone fills max_length; with every pair dropped the run used to
    die in the sampler ("num_samples=0"). Now it is a DataError naming trainer.max_length."""
    from demalign.errors import DataError

    with pytest.raises(DataError, match=r"all 8 training rows were dropped .* trainer\.max_length=8"):
        run_train(make_cfg, tmp_path, "short", f"train.dataset={dataset(tmp_path, 8)}", "train.eval_ratio=0",
                  "trainer.max_length=8")  # fmt: skip
