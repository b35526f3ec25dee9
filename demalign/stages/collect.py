"""One table for a whole sweep, and its checkpoints as one model list for evaluate.

    demalign -m experiment=panel_sweep
    demalign stage=collect collect.sweep_dir=outputs/panel_dpo/multirun/<timestamp>
    demalign recipe=panel_dpo recipe.stages=[questions,evaluate,rank] \\
        generate.models_file=outputs/collect/<run>/evaluate_models.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import MANIFEST, Run
from demalign.reports import markdown_table
from demalign.sweeps import collect_jobs, evaluate_models

OPTIONS = "collect"
SHARED: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inputs:
    sweep_dir: Path  # a multirun folder: outputs/<recipe-or-stage>/multirun/<timestamp>

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(sweep_dir=Path(opts.sweep_dir))


@dataclass(frozen=True)
class Outputs:
    sweep: Path  # sweep.csv: one row per job, overrides and metrics as columns
    models_file: Path  # evaluate_models.json: the base model plus every finished job's checkpoint

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(sweep=Path(folder) / "sweep.csv", models_file=Path(folder) / "evaluate_models.json")


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    jobs = collect_jobs(inputs.sweep_dir)
    for job in jobs["job"]:
        run.record_input(inputs.sweep_dir / job / MANIFEST)

    models = evaluate_models(jobs)

    run.write_text("sweep.csv", jobs.to_csv(index=False))
    table = markdown_table(jobs)
    run.write_text("sweep.md", table)
    run.write_json("evaluate_models.json", models)
    run.metrics.update(
        jobs=len(jobs), failed=int((jobs["status"] != "ok").sum()), checkpoints=len(models) - 1
    )
    print(table)
    run.section(
        f"Sweep `{inputs.sweep_dir}`", f"{len(jobs)} jobs, {run.metrics['failed']} failed.\n\n{table}"
    )
    run.section(
        "Models for evaluate",
        f"{len(models)} models (base + checkpoints) in `evaluate_models.json`; "
        "pass it with `generate.models_file=<path>`.",
    )
    return Outputs.in_folder(run.dir)
