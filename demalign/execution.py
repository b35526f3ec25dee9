"""Run one stage in a run folder and record what happened: `manifest.json` and `report.md`.

`demalign.run` (the CLI) and the pipeline stage both go through `execute`, so every stage run,
nested or not, leaves the same evidence behind.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign import console, distributed
from demalign.artifacts import MANIFEST, REPORT, Run, write_json, write_text
from demalign.errors import DemalignError
from demalign.secrets import redact, scrub_text
from demalign.stages import stage_function

VERSIONED_PACKAGES = (
    "demalign", "torch", "transformers", "trl", "peft", "accelerate", "deepspeed", "datasets",
    "hydra-core", "omegaconf", "numpy", "pandas", "mip", "highspy", "litellm", "openai",
)  # fmt: skip
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """Commit and dirty flag of the code that ran (None outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, resolved where it can be (mandatory `???` values stay as they are)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
    except Exception:  # an interpolation that only resolves inside Hydra: keep it as written
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def _report_header(run: Run, status: str, overrides: list[str]) -> str:
    shown = " ".join(overrides) if overrides else "(none: defaults)"
    return f"# demalign `{run.stage}` run\n\n- status: **{status}**\n- folder: `{run.dir}`\n- overrides: `{shown}`\n\n"


def execute(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> Run:
    """Run `cfg.stage` in `run_dir` and write its manifest and report; re-raises the stage's error."""
    overrides = list(overrides or [])
    started = datetime.now(UTC)
    run = Run(Path(run_dir), str(cfg.stage), overrides=overrides)
    run.seeds["seed"] = int(cfg.seed)
    progress = console.stage_started(run.dir, run.stage)  # console: this stage's one line
    status, error = "ok", None
    try:
        stage_function(run.stage)(cfg, run)
    except BaseException as exc:
        status = "failed"
        error = scrub_text(f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, DemalignError):
            error += "\n" + scrub_text(traceback.format_exc())
        raise
    finally:
        if run.main:  # rank 0 writes the report and manifest (demalign.distributed)
            report_path = run.dir / REPORT
            body = report_path.read_text(encoding="utf-8") if report_path.exists() else ""
            if status != "ok":
                body += f"\n## Error\n\n```\n{error}\n```\n"
            write_text(report_path, scrub_text(_report_header(run, status, overrides) + body))
            manifest = {
                "stage": run.stage,
                "status": status,
                "error": error,
                "started": started.isoformat(),
                "finished": datetime.now(UTC).isoformat(),
                "overrides": redact(overrides),
                "config": redact(plain_config(cfg)),
                "git": git_state(),
                "versions": package_versions(),
                "seeds": run.seeds,
                "inputs": run.inputs,
                "outputs": {k: v for k, v in run.outputs.items() if k not in (MANIFEST, REPORT)},
                "metrics": redact(run.metrics),
                "command": redact(sys.argv),
                "processes": distributed.world_size(),  # ranks of a multi-process launch (rank 0 writes)
            }
            write_json(run.dir / MANIFEST, manifest)
        distributed.stage_barrier(status)  # other ranks wait here for rank 0's manifest
        console.stage_finished(progress, status)
    return run
