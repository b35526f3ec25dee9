"""Supervised fine-tuning on SFT rows, completion-only loss (weighted when the rows have a `weight` column).

    demalign stage=sft sft.dataset=rows.jsonl model=tiny trainer=sft_tiny

Rows are `{messages}` (loss on the assistant turns) or `{prompt, completion}` (loss on the completion);
prompt, system and user tokens never carry a label (see `demalign.training.sft`). Unpaired rows
`{prompt, completion, label}` (select's `diverse` output) train with KTO instead (trainer=kto | kto_tiny,
see `demalign.training.kto`). The trainer group is
shared with stage=train, so use an SFT option (trainer=sft | sft_lora | sft_tiny): a DPO-only key is an
error naming it. Writes `checkpoint/` (model or LoRA adapter + tokenizer), `train_metrics.jsonl` (the
Trainer's log rows) and the loss / token-accuracy / entropy curves. Rerun with `resume=true` in a recipe,
a step killed mid-training continues from its last intermediate checkpoint (`trainer.save_strategy`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.errors import ConfigError, DataError
from demalign.reports import markdown_table, save_figure
from demalign.training.config import configure_wandb, hydra_run_identity
from demalign.training.data import split_pairs
from demalign.training.kto import KTO_CURVE_KEYS, train_kto
from demalign.training.report import curves_figure
from demalign.training.runner import resume_point
from demalign.training.sft import KTO, SFT_CURVE_KEYS, load_sft_rows, train_sft

log = logging.getLogger(__name__)

OPTIONS = "sft"
SHARED = ("model", "trainer")
CHECKPOINT = "checkpoint"
REPORTED_METRICS = ("train_loss", "train_samples_per_second", "eval_loss", "eval_mean_token_accuracy",
                    "eval_rewards/margins", "eval_kl", "train_runtime")  # fmt: skip
LOSS_ON = {"messages": "loss on the assistant turns only", "prompt_completion": "loss on the completions only",
           KTO: "KTO on labelled completions"}  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    dataset: Path  # SFT rows JSONL ({messages} or {prompt, completion}, optional weight)
    eval_dataset: Path | None = (
        None  # held-out rows of the same format; None = split sft.eval_ratio off dataset
    )

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.dataset), Path(opts.eval_dataset) if opts.eval_dataset else None)


@dataclass(frozen=True)
class Outputs:
    checkpoint: Path  # the fine-tuned model or LoRA adapter, with its tokenizer

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(checkpoint=Path(folder) / CHECKPOINT)


def held_out_rows(path: Path, fmt: str, dataset: Path) -> list[dict]:
    """The rows of an eval file (none when it is empty: a tiny curated set may hold nothing out);
    they must have the training rows' format."""
    if not path.read_text(encoding="utf-8").strip():
        log.warning("sft: %s is empty; training without eval rows", path)
        return []
    rows, eval_fmt = load_sft_rows(path)
    if eval_fmt != fmt:
        raise DataError(f"{path}: {eval_fmt} rows, but {dataset} holds {fmt} rows; eval rows must match")
    return rows


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    dataset_path = run.record_input(inputs.dataset)
    rows, fmt = load_sft_rows(dataset_path)
    if inputs.eval_dataset is None:
        train_rows, eval_rows = split_pairs(rows, opts.eval_ratio, opts.split_seed)
    else:  # an earlier step held these rows out (select's val split): train on all of dataset
        train_rows, eval_rows = rows, held_out_rows(run.record_input(inputs.eval_dataset), fmt, dataset_path)
    resume_from = resume_point(opts.resume_from_checkpoint, run.dir / opts.checkpoints_dir, run.resume)
    if resume_from:
        log.info("sft: resuming from %s", resume_from)
        run.record_input(resume_from)

    init_adapter = opts.get("init_adapter")
    if init_adapter:
        if fmt == KTO:
            raise ConfigError("sft.init_adapter continues an SFT adapter; KTO rows do not support it")
        run.record_input(init_adapter)

    run_name, sweep_group = hydra_run_identity()
    configure_wandb(env.trainer.get("report_to"), opts.wandb, sweep_group)
    extra = {"init_adapter": str(init_adapter)} if init_adapter else {}
    result = (train_kto if fmt == KTO else train_sft)(
        env.model,
        env.trainer,
        train_rows,
        eval_rows,
        work_dir=run.path(opts.checkpoints_dir),
        checkpoint_dir=run.path(CHECKPOINT),
        cache_dir=env.paths.cache_dir,
        run_name=run_name,
        resume_from_checkpoint=resume_from,
        **extra,
    )
    run.record_output(CHECKPOINT)
    run.write_jsonl("train_metrics.jsonl", result.log_history)

    final = {k: v for k, v in result.final_metrics.items() if k in REPORTED_METRICS}
    run.metrics.update(
        final, weighted=result.weighted, format=fmt, train_rows=result.num_train, eval_rows=result.num_eval
    )
    keys = KTO_CURVE_KEYS if fmt == KTO else SFT_CURVE_KEYS
    figure = save_figure(run, "training_curves.png", curves_figure(result.log_history, keys))
    run.section(
        f"{'KTO' if fmt == KTO else 'SFT'}: {env.model.name}",
        f"{result.num_train} train rows, {result.num_eval} eval rows ({fmt}), {LOSS_ON[fmt]}, "
        f"{'weighted by the dataset weight column' if result.weighted else 'unweighted'}; "
        f"checkpoint in `{CHECKPOINT}/`{f', resumed from `{resume_from}`' if resume_from else ''}"
        f"{f', adapter continued from `{init_adapter}`' if init_adapter else ''}.\n\n"
        f"{markdown_table([{'metric': k, 'value': v} for k, v in final.items()])}\n{figure}",
    )
    return Outputs.in_folder(run.dir)
