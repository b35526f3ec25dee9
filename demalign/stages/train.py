"""stage=train: DPO on a `dataset.jsonl` (weighted when it has a `weight` column).

    demalign stage=train train.dataset=outputs/prepare/<run>/dataset.jsonl model=tiny trainer=dpo

Writes `checkpoint/` (model or LoRA adapter + tokenizer), `train_metrics.jsonl` (the Trainer's log
rows) and `report.md` with the loss / reward-margin / reward-accuracy curves.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.reports import markdown_table, save_figure
from demalign.training.config import configure_wandb, hydra_run_identity
from demalign.training.data import load_pairs, split_pairs
from demalign.training.report import curves_figure
from demalign.training.runner import train_dpo

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
REPORTED_METRICS = ("train_loss", "train_samples_per_second", "eval_loss", "eval_rewards/margins",
                    "eval_rewards/accuracies", "train_runtime")  # fmt: skip


def run(cfg: DictConfig, run: Run) -> None:
    dataset_path = run.record_input(cfg.train.dataset)
    pairs = load_pairs(dataset_path)
    train_rows, eval_rows = split_pairs(pairs, cfg.train.eval_ratio, cfg.train.split_seed)
    if cfg.train.resume_from_checkpoint:
        run.record_input(cfg.train.resume_from_checkpoint)

    run_name, sweep_group = hydra_run_identity()
    configure_wandb(cfg.trainer.report_to, cfg.train.wandb, sweep_group)
    result = train_dpo(
        cfg.model,
        cfg.trainer,
        train_rows,
        eval_rows,
        work_dir=run.path(cfg.train.checkpoints_dir),
        checkpoint_dir=run.path(CHECKPOINT),
        cache_dir=cfg.paths.cache_dir,
        run_name=run_name,
        resume_from_checkpoint=cfg.train.resume_from_checkpoint,
    )
    run.record_output(CHECKPOINT)
    run.write_jsonl("train_metrics.jsonl", result.log_history)

    final = {k: v for k, v in result.final_metrics.items() if k in REPORTED_METRICS}
    run.metrics.update(
        final, weighted=result.weighted, train_pairs=result.num_train, eval_pairs=result.num_eval
    )
    figure = save_figure(run, "training_curves.png", curves_figure(result.log_history))
    run.write_text(
        "report.md",
        f"## DPO training: {cfg.model.name}\n\n"
        f"{result.num_train} train pairs, {result.num_eval} eval pairs, "
        f"{'weighted by the dataset weight column' if result.weighted else 'unweighted'}; "
        f"checkpoint in `{CHECKPOINT}/`.\n\n"
        f"{markdown_table([{'metric': k, 'value': v} for k, v in final.items()])}\n{figure}",
    )
