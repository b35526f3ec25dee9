"""stage=collect: one table for a whole sweep, and its checkpoints as one model list for evaluate.

    demalign -m experiment=panel_sweep
    demalign stage=collect collect.sweep_dir=outputs/pipeline/multirun/<timestamp>
    demalign stage=pipeline pipeline.stages=[questions,evaluate,rank] \\
        evaluate.models_file=outputs/collect/<run>/evaluate_models.json
"""

from __future__ import annotations

from omegaconf import DictConfig

from demalign.artifacts import MANIFEST, Run
from demalign.reports import markdown_table
from demalign.sweeps import collect_jobs, evaluate_models


def run(cfg: DictConfig, run: Run) -> None:
    jobs = collect_jobs(cfg.collect.sweep_dir)
    for job in jobs["job"]:
        run.record_input(f"{cfg.collect.sweep_dir}/{job}/{MANIFEST}")

    models = evaluate_models(jobs)

    run.write_text("sweep.csv", jobs.to_csv(index=False))
    table = markdown_table(jobs)
    run.write_text("sweep.md", table)
    run.write_json("evaluate_models.json", models)
    run.metrics.update(
        jobs=len(jobs), failed=int((jobs["status"] != "ok").sum()), checkpoints=len(models) - 1
    )
    print(table)
    run.write_text(
        "report.md",
        f"## Sweep `{cfg.collect.sweep_dir}`\n\n{len(jobs)} jobs, {run.metrics['failed']} failed.\n\n{table}\n"
        f"## Models for evaluate\n\n{len(models)} models (base + checkpoints) in `evaluate_models.json`; "
        "pass it with `evaluate.models_file=<path>`.\n",
    )
