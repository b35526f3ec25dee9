"""Gather a Hydra multirun folder: one row per job with its overrides and metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from demalign.artifacts import MANIFEST
from demalign.errors import DataError

CHECKPOINT_MARKERS = ("config.json", "adapter_config.json")  # a full model or a PEFT adapter


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as dotted columns; lists become JSON text.

    >>> flatten({"pairs": 3, "dropped": {"ties": 1}, "ids": [1, 2]})
    {'pairs': 3, 'dropped.ties': 1, 'ids': '[1, 2]'}
    """
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, list) else value
    return flat


def _override_columns(overrides: list[str]) -> dict[str, str]:
    pairs = (item.lstrip("+~").split("=", 1) for item in overrides if "=" in item)
    return {f"override:{key}": value for key, value in pairs if key not in ("stage", "recipe")}


def find_checkpoints(job_dir: Path) -> list[Path]:
    """Checkpoint folders a job wrote (`checkpoint/` holding a model or an adapter), sorted."""
    return sorted(
        path
        for path in job_dir.rglob("checkpoint")
        if path.is_dir() and any((path / m).is_file() for m in CHECKPOINT_MARKERS)
    )


def collect_jobs(sweep_dir: Path) -> pd.DataFrame:
    """One row per job folder directly under `sweep_dir` (ordered by job number)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise DataError(
            f"collect.sweep_dir: {sweep_dir} is not a folder (give outputs/<recipe-or-stage>/multirun/<timestamp>)"
        )
    manifests = sorted(sweep_dir.glob(f"*/{MANIFEST}"), key=lambda p: (_job_number(p.parent), p.parent.name))
    if not manifests:
        raise DataError(f"collect.sweep_dir: {sweep_dir} holds no job folders with a {MANIFEST}")
    rows = []
    for path in manifests:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: malformed manifest ({err.msg})") from None
        checkpoints = find_checkpoints(path.parent)
        rows.append(
            {
                "job": path.parent.name,
                "status": manifest.get("status"),
                "stage": manifest.get("stage") or manifest.get("recipe"),
                **_override_columns(manifest.get("overrides", [])),
                **flatten(manifest.get("metrics", {})),
                "checkpoint": str(checkpoints[0])
                if len(checkpoints) == 1
                else "; ".join(map(str, checkpoints)),
            }
        )
    return pd.DataFrame(rows)


def _job_number(job_dir: Path) -> int:
    head = job_dir.name.split("_", 1)[0]
    return int(head) if head.isdigit() else 1 << 30


def evaluate_models(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """The base model plus one local model per checkpoint of a finished job, named by the override
    values that differ between jobs (a sweep over dataset_mode gives models named hard, soft, ...).
    A failed job's checkpoint may be half-written, so it is never handed on."""
    varying = [c for c in jobs.columns if c.startswith("override:") and jobs[c].astype(str).nunique() > 1]
    models: list[dict[str, Any]] = [{"name": "base", "kind": "local", "path": None}]
    for _, job in jobs[jobs["status"] == "ok"].iterrows():
        for path in filter(None, str(job.get("checkpoint") or "").split("; ")):
            name = ",".join(str(job[c]) for c in varying if pd.notna(job[c]))
            models.append({"name": name or job["job"], "kind": "local", "path": path})
    return models
