"""DPO on a `dataset.jsonl` (weighted when it has a `weight` column).

    demalign stage=train train.dataset=outputs/prepare/<run>/dataset.jsonl model=tiny trainer=dpo

Writes `checkpoint/` (model or LoRA adapter + tokenizer), `train_metrics.jsonl` (the Trainer's log
rows) and the loss / reward-margin / reward-accuracy curves. Rerun with `resume=true` in a recipe, a
step killed mid-training continues from its last intermediate checkpoint (`trainer.save_strategy`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.reports import markdown_table, save_figure
from demalign.training.config import configure_wandb, hydra_run_identity
from demalign.training.data import load_pairs, split_pairs
from demalign.training.report import curves_figure
from demalign.training.runner import resume_point, train_dpo

log = logging.getLogger(__name__)

OPTIONS = "train"
SHARED = ("model", "trainer")
CHECKPOINT = "checkpoint"
REPORTED_METRICS = ("train_loss", "train_samples_per_second", "eval_loss", "eval_rewards/margins",
                    "eval_rewards/accuracies", "train_runtime")  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    dataset: Path  # dataset.jsonl from prepare

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(dataset=Path(opts.dataset))


@dataclass(frozen=True)
class Outputs:
    checkpoint: Path  # the trained model or LoRA adapter, with its tokenizer

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(checkpoint=Path(folder) / CHECKPOINT)


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    dataset_path = run.record_input(inputs.dataset)
    pairs = load_pairs(dataset_path)
    train_rows, eval_rows = split_pairs(pairs, opts.eval_ratio, opts.split_seed)
    resume_from = resume_point(opts.resume_from_checkpoint, run.dir / opts.checkpoints_dir, run.resume)
    if resume_from:
        log.info("train: resuming from %s", resume_from)
        run.record_input(resume_from)

    run_name, sweep_group = hydra_run_identity()
    configure_wandb(env.trainer.report_to, opts.wandb, sweep_group)
    result = train_dpo(
        env.model,
        env.trainer,
        train_rows,
        eval_rows,
        work_dir=run.path(opts.checkpoints_dir),
        checkpoint_dir=run.path(CHECKPOINT),
        cache_dir=env.paths.cache_dir,
        run_name=run_name,
        resume_from_checkpoint=resume_from,
    )
    run.record_output(CHECKPOINT)
    run.write_jsonl("train_metrics.jsonl", result.log_history)

    final = {k: v for k, v in result.final_metrics.items() if k in REPORTED_METRICS}
    run.metrics.update(
        final, weighted=result.weighted, train_pairs=result.num_train, eval_pairs=result.num_eval
    )
    figure = save_figure(run, "training_curves.png", curves_figure(result.log_history))
    run.section(
        f"DPO training: {env.model.name}",
        f"{result.num_train} train pairs, {result.num_eval} eval pairs, "
        f"{'weighted by the dataset weight column' if result.weighted else 'unweighted'}; "
        f"checkpoint in `{CHECKPOINT}/`{f', resumed from `{resume_from}`' if resume_from else ''}.\n\n"
        f"{markdown_table([{'metric': k, 'value': v} for k, v in final.items()])}\n{figure}",
    )
    return Outputs.in_folder(run.dir)
