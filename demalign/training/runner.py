"""One DPO training run: model + tokenizer + DPOConfig + (weighted) trainer → checkpoint and metric history."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demalign.training.config import build_dpo_config, build_peft_config
from demalign.training.data import to_dataset
from demalign.training.models import load_tokenizer, resolve_name_or_path
from demalign.training.weighted_dpo import WEIGHT_COLUMN, trainer_class

log = logging.getLogger(__name__)

# Keys of the Trainer's log history that the report plots (train and eval_ variants).
CURVE_KEYS = ("loss", "rewards/margins", "rewards/accuracies")


@dataclass
class TrainResult:
    log_history: list[dict[str, Any]]  # the Trainer's log rows (one per logging step, eval, and the summary)
    final_metrics: dict[str, float]  # train summary + last eval, flat
    weighted: bool
    num_train: int
    num_eval: int


def train_dpo(
    model_cfg: Any,
    trainer_cfg: Any,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    *,
    work_dir: Path,
    checkpoint_dir: Path,
    cache_dir: Path | str,
    run_name: str | None = None,
    resume_from_checkpoint: str | None = None,
) -> TrainResult:
    """Train with DPO and save the model (or LoRA adapter) + tokenizer into `checkpoint_dir`.

    `work_dir` holds the Trainer's intermediate `checkpoint-N/` folders (for resuming). Rows with a
    `weight` column train with WeightedDPOTrainer, weights rescaled to mean 1 per split.
    """
    name_or_path = resolve_name_or_path(model_cfg, cache_dir)
    tokenizer = load_tokenizer(model_cfg, name_or_path)
    args = build_dpo_config(trainer_cfg, model_cfg, work_dir, has_eval=bool(eval_rows), run_name=run_name)
    train_dataset = to_dataset(train_rows, "train split")
    eval_dataset = to_dataset(eval_rows, "eval split") if eval_rows else None
    weighted = WEIGHT_COLUMN in train_dataset.column_names
    trainer = trainer_class(weighted)(
        model=name_or_path,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=build_peft_config(trainer_cfg),
    )
    summary = trainer.train(resume_from_checkpoint=resume_from_checkpoint).metrics
    final = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    if eval_dataset is not None:
        final.update({k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, int | float)})
    trainer.save_model(str(checkpoint_dir))
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(str(checkpoint_dir))
    return TrainResult(
        log_history=list(trainer.state.log_history),
        final_metrics=final,
        weighted=weighted,
        num_train=len(train_rows),
        num_eval=len(eval_rows),
    )


def latest_checkpoint(work_dir: Path) -> str | None:
    """The newest complete intermediate `checkpoint-N/` a Trainer left in `work_dir` (None if none).

    The Trainer writes `trainer_state.json` last, so a checkpoint cut off by a kill lacks it and is
    never trusted. Example: checkpoint-2 and checkpoint-10 → ".../checkpoint-10" (by step, not name).
    """
    found = [
        p for p in Path(work_dir).glob("checkpoint-*")
        if p.name[11:].isdigit() and (p / "trainer_state.json").is_file()
    ]  # fmt: skip
    return str(max(found, key=lambda p: int(p.name[11:]))) if found else None


def curves(log_history: list[dict[str, Any]], key: str) -> dict[str, tuple[list[int], list[float]]]:
    """{"train": (steps, values), "eval": (steps, values)} for one metric of the log history.

    Example: [{"step": 1, "loss": 0.7}, {"step": 2, "eval_loss": 0.6}] with key "loss" →
    {"train": ([1], [0.7]), "eval": ([2], [0.6])}.
    """
    out: dict[str, tuple[list[int], list[float]]] = {}
    for split, name in (("train", key), ("eval", f"eval_{key}")):
        points = [(row["step"], row[name]) for row in log_history if name in row and "step" in row]
        if points:
            out[split] = ([s for s, _ in points], [v for _, v in points])
    return out
