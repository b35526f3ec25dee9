"""stage=pipeline: several stages in one run folder, each handed the artifacts of the ones before.

    demalign                                          # the embedded default: all stages, four dataset modes
    demalign stage=pipeline pipeline.stages=[prepare,train] dataset_mode=soft

Layout of the run folder (each sub-folder is an ordinary stage run with its own manifest and report):

    <run>/<mode>/prepare/dataset.jsonl    one per dataset mode
    <run>/<mode>/train/checkpoint/        one per dataset mode
    <run>/questions/questions/clause_XX.json
    <run>/evaluate/pairwise.jsonl ...     the base model against every mode's checkpoint
    <run>/rank/ranking_scores.json ...
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, open_dict

from demalign import console
from demalign.artifacts import REPORT, Run
from demalign.errors import ConfigError
from demalign.execution import execute
from demalign.pipelines import (
    PER_MODE_STAGES,
    handover,
    inline_report,
    leaderboard_lines,
    modes_to_run,
    produced,
)
from demalign.stages import STAGE_NAMES

log = logging.getLogger(__name__)
NESTED = ("pipeline", "collect")  # stages that cannot run inside a pipeline


def run(cfg: DictConfig, run: Run) -> None:
    stages = list(cfg.pipeline.stages)
    for name in stages:
        if name not in STAGE_NAMES or name in NESTED:
            valid = ", ".join(s for s in STAGE_NAMES if s not in NESTED)
            raise ConfigError(f"pipeline.stages: {name!r} cannot run in a pipeline. Valid: {valid}")
    modes = modes_to_run(cfg, run.overrides)
    artifacts: dict[str, object] = {"checkpoints": {}}  # what earlier stages wrote, for the hand-over
    contents: list[str] = []  # links to each sub-run's report
    sections: list[str] = []  # each sub-run's report, inlined
    console.plan(sum(len(modes) if name in PER_MODE_STAGES else 1 for name in stages))  # [i/total] lines

    for name in stages:
        for mode in modes if name in PER_MODE_STAGES else [None]:
            folder = run.dir / mode / name if mode else run.dir / name
            sub_cfg = cfg.copy()
            with open_dict(sub_cfg):
                sub_cfg.stage = name
                if mode:
                    sub_cfg.dataset_mode.name = mode
                handover(sub_cfg, name, mode, artifacts)
            label = f"{name} ({mode})" if mode else name
            log.info("pipeline: %s -> %s", label, folder)
            sub = execute(sub_cfg, folder, run.overrides)
            artifacts.update(produced(name, mode, sub.dir, artifacts))
            run.inputs.update(sub.inputs)
            run.outputs.update({str((folder / k).relative_to(run.dir)): v for k, v in sub.outputs.items()})
            run.metrics[label] = sub.metrics
            relative = str(folder.relative_to(run.dir))
            contents.append(f"- [{label}]({relative}/{REPORT})")
            sections.append(
                f"## {label}\n\n" + inline_report((folder / REPORT).read_text(encoding="utf-8"), relative)
            )

    lines = leaderboard_lines(run.metrics.get("rank", {}))
    for line in lines:
        print(line)
    leaderboard = "## Leaderboard\n\n```\n" + "\n".join(lines) + "\n```\n\n" if lines else ""
    run.write_text(
        REPORT,
        leaderboard + "## Stages, in order\n\n" + "\n".join(contents) + "\n\n" + "\n\n".join(sections),
    )
