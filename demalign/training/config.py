"""The `trainer` config group → `trl.DPOConfig` or `trl.SFTConfig` (+ a PEFT config), and W&B/launcher glue.

Every key of `cfg.trainer` except `peft` is a field of the trainer's TRL config with the same name
(`DPOConfig` for stage=train with trainer=dpo*, `SFTConfig` for stage=sft with trainer=sft*); a key the
config class does not know raises a ConfigError naming it (and saying when it belongs to the other
trainer, e.g. `beta` given to SFT). Two keys are resolved from the rest of the config:
`bf16: null` follows `model.torch_dtype` (bf16 autocast only for bfloat16 models), and
`model_init_kwargs` gets the model group's dtype/attention/revision merged in (the trainer's own
entries, e.g. `device_map`, win; `device_map` is dropped under accelerate/torchrun, where each
process must hold its own shard or replica).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.errors import ConfigError
from demalign.training.models import model_init_kwargs

log = logging.getLogger(__name__)

PEFT_KEY = "peft"
# Environment variables set by accelerate launch / torchrun / deepspeed in every worker process.
DISTRIBUTED_ENV = (
    "LOCAL_RANK",
    "ACCELERATE_DYNAMO_BACKEND",
    "ACCELERATE_USE_DEEPSPEED",
    "ACCELERATE_USE_FSDP",
)


def to_dict(node: Any) -> dict[str, Any]:
    """A plain, resolved dict from a DictConfig or mapping (None → {})."""
    if node is None:
        return {}
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def under_distributed_launcher(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(name in env for name in DISTRIBUTED_ENV) or int(env.get("WORLD_SIZE", "1")) > 1


def trainer_config_kwargs(
    trainer_cfg: Any,
    model_cfg: Any,
    output_dir: Path | str,
    *,
    has_eval: bool,
    run_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The kwargs for `DPOConfig(**kwargs)` / `SFTConfig(**kwargs)`; pure, so tests check the mapping
    without building one."""
    kwargs = {k: v for k, v in to_dict(trainer_cfg).items() if k != PEFT_KEY}
    kwargs["output_dir"] = str(output_dir)
    if kwargs.get("bf16") is None:
        kwargs["bf16"] = to_dict(model_cfg).get("torch_dtype") == "bfloat16"
    init_kwargs = {**model_init_kwargs(model_cfg), **(kwargs.get("model_init_kwargs") or {})}
    if init_kwargs.get("device_map") is not None and under_distributed_launcher(environ):
        log.info("trainer.model_init_kwargs.device_map ignored: running under a distributed launcher")
        init_kwargs.pop("device_map")
    kwargs["model_init_kwargs"] = {k: v for k, v in init_kwargs.items() if v is not None}
    if not has_eval:
        kwargs["eval_strategy"] = "no"
    if kwargs.get("run_name") is None and run_name is not None:
        kwargs["run_name"] = run_name
    if kwargs.get("deepspeed"):
        kwargs["deepspeed"] = str(Path(kwargs["deepspeed"]).expanduser())
    return kwargs


dpo_config_kwargs = trainer_config_kwargs  # the DPO name used by stage=train and its tests


def _config_classes() -> dict[str, type]:
    from trl import DPOConfig, KTOConfig, SFTConfig

    return {"DPOConfig": DPOConfig, "SFTConfig": SFTConfig, "KTOConfig": KTOConfig}


def unknown_key_message(kwargs: Mapping[str, Any], config_name: str) -> str | None:
    """None if every key is a field of `config_name`, else one line naming the unknown keys and, for a
    key that another TRL config has (`beta` given to SFTConfig), which one and which trainer options use it.

    Example: {"beta": 0.1, "learning_rate": 1e-5} for SFTConfig → "trainer.beta is not a trl.SFTConfig
    field (it is a DPOConfig/KTOConfig field: ...)".
    """
    from dataclasses import fields

    classes = _config_classes()
    known = {f.name for f in fields(classes[config_name])}
    unknown = [key for key in kwargs if key not in known]
    if not unknown:
        return None
    hints = {"DPOConfig": "trainer=dpo|dpo_lora|dpo_tiny|dpo_zero3 with stage=train",
             "SFTConfig": "trainer=sft|sft_lora|sft_tiny with stage=sft",
             "KTOConfig": "trainer=kto|kto_tiny with stage=sft on prompt/completion/label rows"}  # fmt: skip
    parts = []
    for key in unknown:
        owners = [
            name
            for name, cls in classes.items()
            if name != config_name and key in {f.name for f in fields(cls)}
        ]
        where = f" (it is a {'/'.join(owners)} field: use {hints[owners[0]]})" if owners else ""
        parts.append(f"trainer.{key} is not a trl.{config_name} field{where}")
    return "; ".join(parts) + f" — trainer keys must be trl.{config_name} field names"


def build_trl_config(
    config_name: str, trainer_cfg: Any, model_cfg: Any, output_dir: Path | str, **options: Any
) -> Any:
    """`trl.<config_name>` (DPOConfig, SFTConfig or KTOConfig) from the trainer and model groups."""
    kwargs = trainer_config_kwargs(trainer_cfg, model_cfg, output_dir, **options)
    message = unknown_key_message(kwargs, config_name)
    if message:
        raise ConfigError(message)
    try:
        return _config_classes()[config_name](**kwargs)
    except TypeError as err:
        raise ConfigError(f"trainer: {err} — trainer keys must be trl.{config_name} field names") from None
    except ValueError as err:
        raise ConfigError(f"trainer: {config_name} rejected the settings: {err}") from None


def build_dpo_config(trainer_cfg: Any, model_cfg: Any, output_dir: Path | str, **options: Any) -> Any:
    """`trl.DPOConfig` from the trainer and model groups (see `trainer_config_kwargs`)."""
    return build_trl_config("DPOConfig", trainer_cfg, model_cfg, output_dir, **options)


def build_sft_config(trainer_cfg: Any, model_cfg: Any, output_dir: Path | str, **options: Any) -> Any:
    """`trl.SFTConfig` from the trainer and model groups (see `trainer_config_kwargs`); the loss-mask keys
    are checked and resolved by `demalign.training.sft.loss_mask_settings` before this is called."""
    return build_trl_config("SFTConfig", trainer_cfg, model_cfg, output_dir, **options)


def build_peft_config(trainer_cfg: Any) -> Any:
    """`peft.LoraConfig` from `trainer.peft` (its keys are LoraConfig fields), or None without one."""
    block = to_dict(to_dict(trainer_cfg).get(PEFT_KEY))
    if not block:
        return None
    from peft import LoraConfig

    try:
        return LoraConfig(**block)
    except TypeError as err:
        raise ConfigError(f"trainer.peft: {err} — keys must be peft.LoraConfig field names") from None


def configure_wandb(report_to: Any, wandb_cfg: Any, sweep_group: str | None = None) -> None:
    """Set W&B's environment for the Trainer's callback: offline unless WANDB_API_KEY is set,
    project/entity from `train.wandb`, and one group per sweep. No-op unless reporting to wandb."""
    targets = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "wandb" not in targets and "all" not in targets:
        return
    settings = to_dict(wandb_cfg)
    if "WANDB_API_KEY" not in os.environ:
        os.environ.setdefault("WANDB_MODE", "offline")
        log.info("WANDB_API_KEY not set: W&B logs offline (sync later with `wandb sync`)")
    for key, env in (("project", "WANDB_PROJECT"), ("entity", "WANDB_ENTITY")):
        if settings.get(key):
            os.environ[env] = str(settings[key])
    group = settings.get("group") or sweep_group
    if group:
        os.environ["WANDB_RUN_GROUP"] = str(group)


def hydra_run_identity() -> tuple[str | None, str | None]:
    """(run name, sweep group) from Hydra: job name + overrides, and the sweep folder name in a
    multirun. (None, None) outside a Hydra app (tests call the stage directly)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None, None
    hydra_cfg = HydraConfig.get()
    overrides = hydra_cfg.job.override_dirname
    name = f"{hydra_cfg.job.name}-{overrides}" if overrides else hydra_cfg.job.name
    group = Path(hydra_cfg.sweep.dir).name if str(hydra_cfg.mode) == "RunMode.MULTIRUN" else None
    return name, group
