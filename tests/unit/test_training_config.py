"""Config → DPOConfig mapping: every model/trainer option composes and builds, keys map one-to-one,
dpo_zero3 yields a DeepSpeed config that DeepSpeed accepts, W&B and launcher glue."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demalign.errors import ConfigError
from demalign.training.config import (
    build_dpo_config,
    build_peft_config,
    build_sft_config,
    configure_wandb,
    dpo_config_kwargs,
    under_distributed_launcher,
)
from demalign.training.models import FALLBACK_CHAT_TEMPLATE, ensure_chat_template, model_init_kwargs

CONF = Path(__file__).resolve().parents[2] / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (CONF / "trainer").glob("*.yaml"))
DPO_TRAINERS = [t for t in TRAINERS if t.startswith("dpo")]
SFT_TRAINERS = [t for t in TRAINERS if t.startswith("sft")]


def test_all_options_are_listed() -> None:
    assert MODELS == ["llama3_1_8b", "qwen2_5_0_5b_instruct", "tiny"]
    assert DPO_TRAINERS == ["dpo", "dpo_lora", "dpo_tiny", "dpo_zero3"]
    assert SFT_TRAINERS == ["sft", "sft_lora", "sft_tiny"]
    assert [t for t in TRAINERS if t.startswith("kto")] == ["kto", "kto_tiny"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("trainer", [t for t in DPO_TRAINERS if t != "dpo_zero3"])
def test_every_model_and_trainer_composes_into_a_dpo_config(
    make_cfg, tmp_path: Path, model: str, trainer: str
) -> None:
    cfg = make_cfg(f"model={model}", f"trainer={trainer}", "train.dataset=x.jsonl", "trainer.use_cpu=true")
    assert cfg.train.dataset == "x.jsonl"
    args = build_dpo_config(cfg.trainer, cfg.model, tmp_path, has_eval=True, run_name="job")
    assert args.beta == cfg.trainer.beta and args.learning_rate == cfg.trainer.learning_rate
    assert args.run_name == "job" and args.seed == cfg.seed
    assert args.bf16 == (cfg.model.torch_dtype == "bfloat16")
    assert args.model_init_kwargs["dtype"] == cfg.model.torch_dtype
    assert (build_peft_config(cfg.trainer) is not None) == (trainer == "dpo_lora")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("trainer", SFT_TRAINERS)
def test_every_model_and_sft_trainer_composes_into_an_sft_config(
    make_cfg, tmp_path: Path, model: str, trainer: str
) -> None:
    from dataclasses import fields

    from trl import SFTConfig

    from demalign.training.sft import loss_mask_settings

    cfg = make_cfg(f"model={model}", f"trainer={trainer}", "sft.dataset=x.jsonl", "trainer.use_cpu=true")
    assert set(cfg.trainer) - {"peft"} <= {f.name for f in fields(SFTConfig)}
    settings = loss_mask_settings(cfg.trainer, "messages")
    args = build_sft_config(settings, cfg.model, tmp_path, has_eval=True, run_name="job")
    assert args.learning_rate == cfg.trainer.learning_rate and args.seed == cfg.seed
    assert args.completion_only_loss is True and args.assistant_only_loss is True
    assert args.bf16 == (cfg.model.torch_dtype == "bfloat16")
    peft = build_peft_config(cfg.trainer)
    assert (peft is not None) == (trainer == "sft_lora")
    if trainer == "sft_lora":  # the seed's LoRA settings
        assert (peft.r, peft.lora_alpha, peft.lora_dropout) == (8, 16, 0.05)
        assert (args.learning_rate, args.num_train_epochs) == (2e-4, 3.0)


@pytest.mark.parametrize("trainer", ["kto", "kto_tiny"])
def test_kto_trainers_compose_into_a_kto_config(make_cfg, tmp_path: Path, trainer: str) -> None:
    from demalign.training.kto import build_kto_config

    cfg = make_cfg(f"trainer={trainer}", "trainer.use_cpu=true")
    args = build_kto_config(cfg.trainer, cfg.model, tmp_path, has_eval=False)
    assert (args.beta, args.loss_type, args.learning_rate) == (0.1, "kto", cfg.trainer.learning_rate)


def test_a_dpo_key_given_to_sft_and_an_sft_key_given_to_dpo_are_errors_naming_them(
    make_cfg, tmp_path: Path
) -> None:
    sft = make_cfg("trainer=sft_tiny", "+trainer.beta=0.1")
    with pytest.raises(ConfigError, match=r"trainer\.beta is not a trl\.SFTConfig field \(it is a DPOConfig"):
        build_sft_config(sft.trainer, sft.model, tmp_path, has_eval=False)
    dpo_trainer = make_cfg("trainer=dpo_tiny")  # stage=sft with the default DPO trainer group
    with pytest.raises(ConfigError, match=r"trainer\.beta is not a trl\.SFTConfig field.*trainer=dpo"):
        build_sft_config(dpo_trainer.trainer, dpo_trainer.model, tmp_path, has_eval=False)
    with pytest.raises(
        ConfigError,
        match=r"trainer\.completion_only_loss is not a trl\.DPOConfig field \(it is an? SFTConfig",
    ):
        build_dpo_config(make_cfg("trainer=sft_tiny").trainer, sft.model, tmp_path, has_eval=False)


def test_trainer_keys_map_one_to_one_onto_dpo_config(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("trainer=dpo_zero3")
    kwargs = dpo_config_kwargs(cfg.trainer, cfg.model, tmp_path, has_eval=False)
    from dataclasses import fields

    from trl import DPOConfig

    assert set(kwargs) <= {f.name for f in fields(DPOConfig)}
    assert kwargs["eval_strategy"] == "no"  # no eval split
    assert kwargs["deepspeed"] == "launch/deepspeed/zero3.json" and kwargs["gradient_checkpointing"] is True


def test_unknown_trainer_key_is_a_config_error_naming_it(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("+trainer.max_prompt_length=64")  # removed from DPOConfig in TRL 1.x
    with pytest.raises(ConfigError, match="max_prompt_length"):
        build_dpo_config(cfg.trainer, cfg.model, tmp_path, has_eval=False)


def test_device_map_is_dropped_under_a_distributed_launcher(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("trainer.model_init_kwargs.device_map=auto")
    single = dpo_config_kwargs(cfg.trainer, cfg.model, tmp_path, has_eval=False, environ={})
    torchrun = dpo_config_kwargs(
        cfg.trainer, cfg.model, tmp_path, has_eval=False, environ={"LOCAL_RANK": "0"}
    )
    assert single["model_init_kwargs"]["device_map"] == "auto"
    assert "device_map" not in torchrun["model_init_kwargs"]
    assert under_distributed_launcher({"WORLD_SIZE": "8"}) and not under_distributed_launcher(
        {"WORLD_SIZE": "1"}
    )


def test_model_group_validation() -> None:
    with pytest.raises(ConfigError, match=r"model\.torch_dtype"):
        model_init_kwargs({"torch_dtype": "fp8"})
    assert model_init_kwargs({"torch_dtype": "bfloat16", "revision": "abc"}) == {
        "dtype": "bfloat16", "trust_remote_code": False, "revision": "abc",
    }  # fmt: skip


def test_tokenizer_without_chat_template_gets_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    class Bare:
        chat_template = None
        pad_token = None
        eos_token = "</s>"

    with caplog.at_level(logging.INFO, logger="demalign.training.models"):
        tokenizer = ensure_chat_template(Bare(), "base-model")
    assert tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE and tokenizer.pad_token == "</s>"
    assert "no chat template" in caplog.text


def test_wandb_is_offline_without_an_api_key_and_a_sweep_is_one_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_RUN_GROUP", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    configure_wandb("none", {"project": "p"})
    assert "WANDB_PROJECT" not in os.environ
    configure_wandb("wandb", {"project": "p", "group": None}, sweep_group="2026-01-01_00-00-00_000001")
    env = os.environ
    assert (env["WANDB_MODE"], env["WANDB_PROJECT"], env["WANDB_RUN_GROUP"]) == (
        "offline", "p", "2026-01-01_00-00-00_000001",
    )  # fmt: skip


DEEPSPEED_CHECK = """
import json, os, sys
os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29517")
from omegaconf import OmegaConf
from transformers import AutoModelForCausalLM
from deepspeed.runtime.config import DeepSpeedConfig
from demalign.training.config import build_dpo_config
trainer = OmegaConf.load("conf/trainer/dpo_zero3.yaml")
base = OmegaConf.load("conf/trainer/dpo.yaml")
trainer = OmegaConf.merge(base, {k: v for k, v in trainer.items() if k != "defaults"}, {"seed": 0, "use_cpu": True})
model = {"torch_dtype": "bfloat16"}
args = build_dpo_config(trainer, model, sys.argv[1], has_eval=False)
args.hf_deepspeed_config.trainer_config_finalize(args, AutoModelForCausalLM.from_pretrained(sys.argv[2]), 100)
ds = DeepSpeedConfig(args.hf_deepspeed_config.config)
print(json.dumps({"stage": ds.zero_optimization_stage, "train_batch_size": ds.train_batch_size,
                  "zero3": args.hf_deepspeed_config.is_zero3()}))
"""


def test_dpo_zero3_gives_a_deepspeed_config_that_deepspeed_accepts(tmp_path: Path) -> None:
    """Own process: DeepSpeed initialises torch.distributed, which must not leak into other tests.
    World size 1, micro-batch 1 × accumulation 8 → train_batch_size 8."""
    from demalign.training.tiny import ensure_tiny_model
    from tests.unit.test_training_weighted import CACHE

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", DEEPSPEED_CHECK, str(tmp_path), str(ensure_tiny_model(CACHE))],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "stage": 3,
        "train_batch_size": 8,
        "zero3": True,
    }
