"""The pipeline's hand-over contract: which artifact of a finished stage feeds which config key of
the next one. Keeping it in one table makes the data flow readable in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

PER_MODE_STAGES = ("prepare", "train")  # run once per dataset mode; the others run once
BASE_MODEL_NAME = "base"  # the untrained model every mode's checkpoint is compared with
RANK_INPUTS = ("pairwise", "listwise", "preferences")


def modes_to_run(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """`pipeline.dataset_modes`, unless `dataset_mode=<m>` was given on the command line (as in a
    sweep over modes): then that one mode. null in the config also means the dataset_mode group's."""
    if cfg.pipeline.dataset_modes is None or any(o.startswith("dataset_mode=") for o in overrides):
        return [str(cfg.dataset_mode.name)]
    return [str(mode) for mode in cfg.pipeline.dataset_modes]


def handover(cfg: DictConfig, stage: str, mode: str | None, artifacts: dict[str, Any]) -> None:
    """Point `cfg` (open for writing) at what earlier stages produced."""
    if stage == "prepare" and cfg.pipeline.max_pairs_per_mode is not None:
        cfg.dataset.max_pairs = int(cfg.pipeline.max_pairs_per_mode)
    elif stage == "train" and f"dataset:{mode}" in artifacts:
        cfg.train.dataset = str(artifacts[f"dataset:{mode}"])
    elif stage == "evaluate":
        if "questions_dir" in artifacts:
            cfg.evaluate.questions_dir = str(artifacts["questions_dir"])
        if artifacts["checkpoints"]:
            cfg.evaluate.models = [{"name": BASE_MODEL_NAME, "kind": "local", "path": None}] + [
                {"name": name, "kind": "local", "path": str(path)}
                for name, path in artifacts["checkpoints"].items()
            ]
    elif stage == "rank":
        for kind in RANK_INPUTS:
            if kind in artifacts:
                cfg.rank[kind] = str(artifacts[kind])


def produced(stage: str, mode: str | None, run_dir: Path, artifacts: dict[str, Any]) -> dict[str, Any]:
    """The artifacts a finished stage hands on, by the names of the run-folder contract."""
    if stage == "prepare":
        return {f"dataset:{mode}": run_dir / "dataset.jsonl"}
    if stage == "train":
        return {"checkpoints": {**artifacts["checkpoints"], mode: run_dir / "checkpoint"}}
    if stage == "questions":
        return {"questions_dir": run_dir / "questions"}
    if stage == "evaluate":
        return {
            kind: run_dir / f"{kind}.jsonl" for kind in RANK_INPUTS if (run_dir / f"{kind}.jsonl").exists()
        }
    return {}


def leaderboard_lines(rank_metrics: dict[str, Any]) -> list[str]:
    """A plain-text leaderboard from the rank stage's metrics (empty when rank did not run)."""
    rows = rank_metrics.get("leaderboard") or []
    if not rows:
        return []
    lines = [
        f"Leaderboard: {rank_metrics.get('leaderboard_method', '')}",
        f"{'rank':>4}  {'model':<16} {'score':>8}  CI",
    ]
    lines += [
        f"{row['rank']:>4}  {row['model']:<16} {row['score']:>8.1f}  [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"
        for row in rows
    ]
    return lines


def inline_report(report_md: str, folder: str) -> str:
    """A sub-run's report for embedding: its own header dropped, headings one level deeper, and
    relative links (plots, files) rewritten to point into `folder`."""
    body = report_md[report_md.find("\n## ") + 1 :] if "\n## " in report_md else ""
    body = re.sub(r"^(#+) ", r"#\1 ", body, flags=re.MULTILINE)
    return re.sub(r"\]\((?!https?://|/)([^)]+)\)", rf"]({folder}/\1)", body)
