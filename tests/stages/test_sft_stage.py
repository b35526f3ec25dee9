"""stage=sft on the tiny model on CPU, through `run_configured` with the composed config: the loss falls
on a fixed tiny set, the checkpoint reloads and generates, LoRA with the seed's settings, resume, and a
DPO trainer group given to stage=sft is an error naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from demalign.artifacts import Run, read_jsonl, write_jsonl
from demalign.errors import ConfigError
from demalign.run import run_configured
from demalign.training.synthetic import synthetic_sft_rows
from tests.unit.test_training_weighted import CACHE

torch.set_num_threads(1)
FAST = ["stage=sft", "trainer=sft_tiny", "trainer.per_device_train_batch_size=4", "trainer.gradient_accumulation_steps=1",
        "trainer.logging_steps=1", "trainer.max_length=96", "trainer.learning_rate=1e-3"]  # fmt: skip


def dataset(tmp_path: Path, n: int = 16, **kwargs) -> Path:
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, synthetic_sft_rows(n, seed=5, **kwargs))
    return path


def shared_cache(cfg):
    """make_cfg points paths.cache_dir into the test's tmp folder, where the tiny model would be rebuilt
    (a ~60 s warm-up); the shared test cache builds it once."""
    with open_dict(cfg):
        cfg.paths.cache_dir = str(CACHE)
    return cfg


def run_sft(make_cfg, tmp_path: Path, name: str, *overrides: str) -> Run:
    return run_configured(shared_cache(make_cfg(*FAST, *overrides)), tmp_path / name)


def test_weighted_sft_loss_falls_and_checkpoint_reloads_and_generates(make_cfg, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = run_sft(make_cfg, tmp_path, "run", f"sft.dataset={dataset(tmp_path, weighted=True)}", "sft.eval_ratio=0.25",
                  "trainer.num_train_epochs=2")  # fmt: skip
    losses = [r["loss"] for r in read_jsonl(run.dir / "train_metrics.jsonl") if "loss" in r]
    assert len(losses) == 6  # 12 train rows / batch 4 × 2 epochs
    # The replies follow one template: the second epoch's mean loss is well below the first's.
    assert sum(losses[3:]) < 0.8 * sum(losses[:3])
    assert run.metrics["weighted"] is True and run.metrics["format"] == "messages"
    assert (run.metrics["train_rows"], run.metrics["eval_rows"]) == (12, 4)
    assert "eval_loss" in run.metrics and "eval_mean_token_accuracy" in run.metrics
    assert "checkpoint/model.safetensors" in run.outputs and "training_curves.png" in run.outputs
    report = (run.dir / "report.md").read_text()
    assert "loss on the assistant turns only" in report and "![training_curves.png]" in report

    tokenizer = AutoTokenizer.from_pretrained(run.dir / "checkpoint")
    assert "{% generation %}" not in tokenizer.chat_template  # the model's own template is saved
    model = AutoModelForCausalLM.from_pretrained(run.dir / "checkpoint")
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)  # fmt: skip
    out = model.generate(**prompt, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def test_sft_lora_with_the_seeds_settings_saves_an_adapter(make_cfg, tmp_path: Path) -> None:
    data = dataset(tmp_path, 8, fmt="prompt_completion", chat=False)
    run = run_sft(make_cfg, tmp_path, "lora", f"sft.dataset={data}", "sft.eval_ratio=0", "trainer=sft_lora",
                  "trainer.num_train_epochs=1", "trainer.gradient_accumulation_steps=1")  # fmt: skip
    adapter = json.loads((run.dir / "checkpoint" / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (8, 16)
    assert sorted(adapter["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert not (run.dir / "checkpoint" / "model.safetensors").exists()
    assert (
        run.metrics["weighted"] is False
        and "loss on the completions only" in (run.dir / "report.md").read_text()
    )


def test_sft_resume_from_checkpoint_continues_to_the_same_end(make_cfg, tmp_path: Path) -> None:
    """Save every 2 steps; resuming the 4-step run from checkpoint-2 runs only steps 3-4 and ends with
    the same weights."""
    common = [f"sft.dataset={dataset(tmp_path, 8)}", "sft.eval_ratio=0", "trainer.num_train_epochs=2",
              "trainer.save_strategy=steps", "trainer.save_steps=2"]  # fmt: skip
    first = run_sft(make_cfg, tmp_path, "first", *common)
    checkpoint = first.dir / "trainer_checkpoints" / "checkpoint-2"
    resumed = run_sft(make_cfg, tmp_path, "resumed", *common, f"sft.resume_from_checkpoint={checkpoint}")
    losses = {r["step"]: r["loss"] for r in read_jsonl(first.dir / "train_metrics.jsonl") if "loss" in r}
    assert resumed.metrics["train_loss"] == pytest.approx((losses[3] + losses[4]) / 2, rel=1e-4)
    assert (first.dir / "checkpoint/model.safetensors").read_bytes() == (
        resumed.dir / "checkpoint/model.safetensors"
    ).read_bytes()


def test_a_dpo_trainer_group_given_to_stage_sft_is_an_error_naming_the_key(make_cfg, tmp_path: Path) -> None:
    overrides = [o for o in FAST if not o.startswith("trainer")]
    with pytest.raises(ConfigError, match=r"trainer\.beta is not a trl\.SFTConfig field"):
        run_configured(
            shared_cache(make_cfg(*overrides, f"sft.dataset={dataset(tmp_path, 4)}")), tmp_path / "dpo"
        )


def kto_dataset(tmp_path: Path, n: int = 8) -> Path:
    from demalign.training.synthetic import synthetic_pairs

    rows = []
    for pair in synthetic_pairs(n, seed=5, weighted=False):
        rows.append({"prompt": pair["prompt"], "completion": pair["chosen"], "label": True})
        rows.append({"prompt": pair["prompt"], "completion": pair["rejected"], "label": False})
    path = tmp_path / "kto_rows.jsonl"
    write_jsonl(path, rows)
    return path


def test_kto_rows_train_with_kto_and_the_loss_falls(make_cfg, tmp_path: Path) -> None:
    overrides = [o for o in FAST if not o.startswith("trainer=")]
    run = run_configured(
        shared_cache(make_cfg(*overrides, "trainer=kto_tiny", f"sft.dataset={kto_dataset(tmp_path)}",
                              "sft.eval_ratio=0", "trainer.num_train_epochs=2", "trainer.warmup_steps=0")),
        tmp_path / "kto",
    )  # fmt: skip
    rows = read_jsonl(run.dir / "train_metrics.jsonl")
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) == 8  # 16 rows / batch 4 × 2 epochs
    assert losses[0] == pytest.approx(0.5, abs=1e-3)  # policy = reference: KTO's loss is 1 − σ(0) = 0.5
    assert sum(losses[4:]) < 0.8 * sum(losses[:4])
    assert [r["rewards/margins"] for r in rows if "rewards/margins" in r][-1] > 0
    assert (
        run.metrics["format"] == "kto"
        and "KTO on labelled completions" in (run.dir / "report.md").read_text()
    )
    assert "checkpoint/model.safetensors" in run.outputs


def test_kto_rows_with_an_sft_trainer_are_an_error_naming_the_key(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.completion_only_loss is not a trl\.KTOConfig field"):
        run_sft(make_cfg, tmp_path, "kto-sft", f"sft.dataset={kto_dataset(tmp_path, 2)}", "sft.eval_ratio=0")


def test_a_held_out_file_is_the_eval_split_and_must_match_the_format(make_cfg, tmp_path: Path) -> None:
    """sft.eval_dataset (select's val split): all 8 dataset rows train, the file's 4 rows evaluate; an
    empty file means no eval rows; rows of another format are a DataError naming both files."""
    from demalign.errors import DataError

    rows = dataset(tmp_path, 8, fmt="prompt_completion")
    held_out = tmp_path / "val.jsonl"
    write_jsonl(held_out, synthetic_sft_rows(4, seed=9, fmt="prompt_completion"))
    common = [f"sft.dataset={rows}", "+trainer.max_steps=1", "trainer.eval_strategy=no"]
    run = run_sft(make_cfg, tmp_path, "held", *common, f"sft.eval_dataset={held_out}")
    assert (run.metrics["train_rows"], run.metrics["eval_rows"]) == (8, 4)
    held_out.write_text("")
    assert (
        run_sft(make_cfg, tmp_path, "empty", *common, f"sft.eval_dataset={held_out}").metrics["eval_rows"]
        == 0
    )
    write_jsonl(held_out, synthetic_sft_rows(2, seed=9, fmt="messages"))
    with pytest.raises(
        DataError, match=r"val\.jsonl: messages rows, but .*rows\.jsonl holds prompt_completion rows"
    ):
        run_sft(make_cfg, tmp_path, "mismatch", *common, f"sft.eval_dataset={held_out}")
