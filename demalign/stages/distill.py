"""The teacher writes a 2-4 sentence analysis ending `Conclusion: <gold>` for every training task.

    demalign stage=distill                                            # offline template teacher, bundled tasks
    demalign stage=distill teacher=litellm teacher.model=deepseek/deepseek-chat teacher.api_key_env=DEEPSEEK_API_KEY
    demalign stage=distill teacher=litellm teacher.model=my-model teacher.base_url=http://localhost:8000/v1 distill.dry_run=true

The training part of the `dart_tasks` split goes to the `teacher` group's model, which is told the gold
label; an answer without a parseable conclusion is re-asked up to `teacher.format_fix_rounds` times;
a target is kept only if its conclusion equals the gold label (`demalign.dart.teacher`). Writes
`targets.jsonl` (kept rows with their target), `dataset.jsonl` (SFT rows: the student prompt and the
target), `drops.jsonl` (every dropped task with its reason and text) and `usage.jsonl`. Every call goes
through the call cache: a rerun, also after a kill, repeats no finished call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.dart.tasks import configured_split
from demalign.dart.teacher import (
    TeacherJob,
    run_teacher,
    sft_row,
    teacher_dry_run,
    teacher_role,
    teacher_sections,
)
from demalign.errors import DataError
from demalign.llm.cache import CallCache
from demalign.stages import NoInputs

log = logging.getLogger(__name__)

OPTIONS = "distill"
SHARED = ("dart_tasks", "teacher")
Inputs = NoInputs  # the tasks come from the dart_tasks group


@dataclass(frozen=True)
class Outputs:
    targets: Path  # kept rows {id, question, label, benchmark, condition, target, rounds}
    dataset: Path  # SFT rows {id, messages}
    drops: Path  # {id, reason, text, rounds}

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(
            Path(folder) / "targets.jsonl", Path(folder) / "dataset.jsonl", Path(folder) / "drops.jsonl"
        )


def run(opts: DictConfig, env: DictConfig, inputs: NoInputs, run: Run) -> Outputs:
    train, _, source = configured_split(env.dart_tasks)
    run.record_input(source)
    run.seeds["dart_tasks.split_seed"] = int(env.dart_tasks.split_seed)
    role = teacher_role(OmegaConf.to_container(env.teacher))
    jobs = [TeacherJob(task) for task in train]
    if opts.dry_run:
        teacher_dry_run("distill", jobs, role, env.teacher, run)
        return Outputs.in_folder(run.dir)
    outcome = run_teacher(jobs, role, CallCache(Path(opts.cache_dir) / "calls.jsonl"), int(env.teacher.format_fix_rounds),
                          desc="distill")  # fmt: skip
    outputs = Outputs.in_folder(run.dir)
    run.write_jsonl(outputs.targets.name, outcome.rows)
    run.write_jsonl(outputs.dataset.name, [sft_row(row) for row in outcome.rows])
    run.write_jsonl(outputs.drops.name, outcome.drops)
    teacher_sections("distill", outcome, len(jobs), role, env.teacher, run)
    failed = [d["id"] for d in outcome.drops if d["reason"] == "call_failed"]
    if failed:
        raise DataError(
            f"distill: {len(failed)} teacher calls failed after all retries ({failed[:5]} ...); see drops.jsonl in "
            f"{run.dir}. Rerun to retry them (finished calls are cached)."
        )
    if not outcome.rows:
        raise DataError(
            f"distill: the teacher kept no target of {len(jobs)} tasks; see drops.jsonl in {run.dir}"
        )
    return outputs
