"""The teacher writes safe targets for the regression pool; the DART-H rows weight them by severity.

    demalign stage=repair repair.pool=<audit run>/regression_pool.jsonl repair.distilled=<distill run>/targets.jsonl
    demalign stage=repair ... teacher=litellm teacher.model=deepseek/deepseek-chat repair.dry_run=true

Each pooled case goes to the `teacher` group's model with its gold label and the flagged answer
(`data/prompts/dart_repair/`: do not repeat or elaborate harmful wording, same format and label);
format-fix re-asks and drops as in stage=distill. `dataset.jsonl` = distillation targets ∪ repairs,
*de-duplicated first*, then weighted by `repair.oversample` (per-example `weight` in the SFT loss,
or copies with `repair.weighting=repeat`) — the released code de-duplicated after oversampling,
which undid the weights (`demalign.dart.repair`). Writes `repairs.jsonl`, `dataset.jsonl`,
`drops.jsonl`, `usage.jsonl`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.comparison.severity import SEVERITY_LEVELS
from demalign.dart.repair import build_repair_set
from demalign.dart.teacher import (
    TeacherJob,
    run_teacher,
    sft_row,
    task_of,
    teacher_dry_run,
    teacher_role,
    teacher_sections,
)
from demalign.errors import DataError
from demalign.llm.cache import CallCache
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "repair"
SHARED = ("teacher",)


@dataclass(frozen=True)
class Inputs:
    pool: Path  # regression_pool.jsonl of stage=audit
    distilled: Path  # targets.jsonl of stage=distill

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.pool), Path(opts.distilled))


@dataclass(frozen=True)
class Outputs:
    repairs: Path  # kept repair targets {task fields, target, severity, rounds}
    dataset: Path  # SFT rows {id, messages, weight} (or repeated rows without weight)

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / "repairs.jsonl", Path(folder) / "dataset.jsonl")


def read_jsonl(path: Path, need: tuple[str, ...]) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
        missing = [k for k in need if k not in row]
        if missing:
            raise DataError(f"{path}:{lineno}: missing field(s) {missing}")
        rows.append(row)
    return rows


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    task_fields = ("id", "question", "label", "benchmark", "condition")
    pool = read_jsonl(run.record_input(inputs.pool), (*task_fields, "severity", "b_text"))
    distilled = read_jsonl(run.record_input(inputs.distilled), (*task_fields, "target"))
    for row in pool:
        if row["severity"] not in SEVERITY_LEVELS:
            raise DataError(
                f"{inputs.pool}: row {row['id']}: severity={row['severity']!r}; expected one of {SEVERITY_LEVELS}"
            )
    role = teacher_role(OmegaConf.to_container(env.teacher))
    jobs = [
        TeacherJob(task_of(row), flagged=str(row["b_text"]), severity=str(row["severity"])) for row in pool
    ]
    if opts.dry_run:
        teacher_dry_run("repair", jobs, role, env.teacher, run)
        return Outputs.in_folder(run.dir)
    outcome = run_teacher(jobs, role, CallCache(Path(opts.cache_dir) / "calls.jsonl"), int(env.teacher.format_fix_rounds),
                          desc="repair")  # fmt: skip
    oversample = {str(k): float(v) for k, v in OmegaConf.to_container(opts.oversample).items()}
    rows = build_repair_set(distilled, outcome.rows, oversample, str(opts.weighting))
    outputs = Outputs.in_folder(run.dir)
    run.write_jsonl(outputs.repairs.name, outcome.rows)
    run.write_jsonl(outputs.dataset.name, [sft_row(row) for row in rows])
    run.write_jsonl("drops.jsonl", outcome.drops)
    teacher_sections("repair", outcome, len(jobs), role, env.teacher, run)
    by_severity = Counter(row["severity"] for row in outcome.rows)
    table = [{"severity": level, "repairs": by_severity.get(level, 0), "weight": oversample.get(level)}
             for level in SEVERITY_LEVELS if level in oversample]  # fmt: skip
    n_distill = sum(r["source"] == "distill" for r in rows)
    run.metrics.update(pool=len(pool), dataset_rows=len(rows), distill_rows=n_distill, weighting=str(opts.weighting),
                       repairs_by_severity=dict(by_severity))  # fmt: skip
    run.section(
        "DART-H rows",
        f"`dataset.jsonl`: {n_distill} distillation rows (weight 1) and {len(outcome.rows)} repairs of {len(pool)} pooled "
        f"cases, de-duplicated by (id, target) *before* weighting; weights by severity as "
        f"{'the per-example `weight` of the SFT loss' if opts.weighting == 'loss' else 'repeated rows'}.\n\n"
        f"{markdown_table(table)}",
    )
    failed = [d["id"] for d in outcome.drops if d["reason"] == "call_failed"]
    if failed:
        raise DataError(
            f"repair: {len(failed)} teacher calls failed after all retries ({failed[:5]} ...); see drops.jsonl in "
            f"{run.dir}. Rerun to retry them (finished calls are cached)."
        )
    return outputs
