"""One DPO training run: model + tokenizer + DPOConfig + (weighted) trainer → checkpoint and metric history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demalign.errors import DataError
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
    return fit_and_save(
        trainer_class, name_or_path, tokenizer, args, trainer_cfg, train_rows, eval_rows,
        checkpoint_dir=checkpoint_dir, resume_from_checkpoint=resume_from_checkpoint,
    )  # fmt: skip


def check_rows_kept(given: int, kept: int, args: Any) -> None:
    """TRL drops rows while preparing a dataset (a DPO prompt that alone fills `max_length`, an SFT
    row whose completion has no label tokens left): all dropped is an error saying why, not Torch's
    "num_samples=0"; some dropped is logged, since the run then trains on fewer rows than it was given."""
    if kept == 0:
        raise DataError(
            f"all {given} training rows were dropped while TRL prepared them: a prompt that alone fills "
            f"trainer.max_length={getattr(args, 'max_length', None)}, or a completion with no label token left. "
            "Raise trainer.max_length or shorten the prompts."
        )
    if kept < given:
        log.warning("TRL dropped %d of %d training rows while preparing them (trainer.max_length=%s)",
                    given - kept, given, getattr(args, "max_length", None))  # fmt: skip


def fit_and_save(
    trainer_for: Callable[[bool], Any],
    name_or_path: str,
    tokenizer: Any,
    args: Any,
    trainer_cfg: Any,
    train_rows: list[dict[str, Any]],
    eval_rows: list[dict[str, Any]],
    *,
    checkpoint_dir: Path,
    resume_from_checkpoint: str | None = None,
    before_save: Callable[[], None] | None = None,
    model: Any = None,
) -> TrainResult:
    """The part every TRL run shares: datasets, the trainer (`trainer_for(weighted)` picks its class
    from whether the rows carry a `weight` column), train (or resume), evaluate, save the model or
    adapter and, on the main process, the tokenizer into `checkpoint_dir`. `model`: an instantiated
    model to train instead of loading `name_or_path` (a PeftModel whose adapter training continues,
    e.g. DART-H from the DART adapter); it brings its own adapter, so no new LoRA is added."""
    train_dataset = to_dataset(train_rows, "train split")
    eval_dataset = to_dataset(eval_rows, "eval split") if eval_rows else None
    weighted = WEIGHT_COLUMN in train_dataset.column_names
    trainer = trainer_for(weighted)(
        model=name_or_path if model is None else model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=build_peft_config(trainer_cfg) if model is None else None,
    )
    check_rows_kept(len(train_rows), len(trainer.train_dataset), args)
    summary = trainer.train(resume_from_checkpoint=resume_from_checkpoint).metrics
    final = {k: float(v) for k, v in summary.items() if isinstance(v, int | float)}
    if eval_dataset is not None:
        final.update({k: float(v) for k, v in trainer.evaluate().items() if isinstance(v, int | float)})
    if before_save is not None:
        before_save()
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


def resume_point(explicit: str | None, work_dir: Path, resume: bool) -> str | None:
    """Where a training step starts from: the checkpoint the config names, else (when the run is
    resumed) the newest complete intermediate checkpoint in `work_dir`, else None (from scratch)."""
    if explicit is None and resume:
        return latest_checkpoint(work_dir)
    return explicit


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
