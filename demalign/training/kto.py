"""KTO with TRL's `KTOTrainer` on unpaired rows `{prompt, completion, label}` (select's `diverse` output).

`label` is true for a desirable completion, false for an undesirable one. The loss is on the completion
only (KTO scores log p(completion | prompt)). Rows are strings or message lists, one kind per file. A
per-example `weight` column is not supported: KTO's own class weights are `trainer.desirable_weight` /
`trainer.undesirable_weight` (TRL warns when they do not balance the label counts). The trainer group
must be a KTO option (trainer=kto | kto_tiny); keys map one to one onto `trl.KTOConfig`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from demalign.errors import DataError
from demalign.training.config import build_trl_config
from demalign.training.models import load_tokenizer, resolve_name_or_path
from demalign.training.runner import TrainResult, fit_and_save

log = logging.getLogger(__name__)

KTO_FIELDS = ("prompt", "completion", "label")
# Keys of the Trainer's log history that the KTO report plots (train and eval_ variants).
KTO_CURVE_KEYS = ("loss", "rewards/margins", "kl")


def check_kto_rows(rows: Sequence[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The rows reduced to prompt/completion/label; a DataError names the first bad row (1-based).

    Example: {"prompt": "Q", "completion": "A", "label": "yes"} → "row 1: label must be true or false".
    """
    out = []
    chat = isinstance(rows[0].get("prompt"), list) if rows else False
    for i, row in enumerate(rows, start=1):
        missing = [name for name in KTO_FIELDS if name not in row]
        if missing:
            raise DataError(
                f"{where}: row {i} lacks {', '.join(missing)} (KTO rows are prompt, completion, label)"
            )
        if not isinstance(row["label"], bool):
            raise DataError(f"{where}: row {i}: label must be true or false, got {row['label']!r}")
        if "weight" in row:
            raise DataError(
                f"{where}: row {i} has a weight; KTO takes trainer.desirable_weight / trainer.undesirable_weight "
                "instead of per-example weights"
            )
        if isinstance(row["prompt"], list) != chat or isinstance(row["completion"], list) != chat:
            raise DataError(f"{where}: row {i}: prompt/completion mix message lists and plain strings")
        out.append({name: row[name] for name in KTO_FIELDS})
    if not out:
        raise DataError(f"{where}: no KTO rows")
    if len({row["label"] for row in out}) < 2:
        log.warning("%s: every row has label=%s; KTO learns best from both kinds", where, out[0]["label"])
    return out


def build_kto_config(trainer_cfg: Any, model_cfg: Any, output_dir: Path | str, **options: Any) -> Any:
    """`trl.KTOConfig` from the trainer and model groups (unknown keys are a ConfigError naming them)."""
    return build_trl_config("KTOConfig", trainer_cfg, model_cfg, output_dir, **options)


def train_kto(
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
    """KTO on prompt/completion/label rows; saves the model (or LoRA adapter) + tokenizer into `checkpoint_dir`.

    With full fine-tuning TRL loads a frozen reference copy of the model; with LoRA the reference is
    the base model with the adapter disabled.
    """
    from trl import KTOTrainer

    train_rows = check_kto_rows(train_rows, "train split")
    eval_rows = check_kto_rows(eval_rows, "eval split") if eval_rows else []
    name_or_path = resolve_name_or_path(model_cfg, cache_dir)
    tokenizer = load_tokenizer(model_cfg, name_or_path)
    args = build_kto_config(trainer_cfg, model_cfg, work_dir, has_eval=bool(eval_rows), run_name=run_name)
    return fit_and_save(
        lambda weighted: KTOTrainer, name_or_path, tokenizer, args, trainer_cfg, train_rows, eval_rows,
        checkpoint_dir=checkpoint_dir, resume_from_checkpoint=resume_from_checkpoint,
    )  # fmt: skip
