"""Run a stage or a recipe in a run folder and record what happened: `manifest.json` and `report.md`.

The CLI (`demalign.run`), `demalign.stages.run_stage` and every recipe step go through `execute`, so
every run, nested or not, leaves the same evidence behind.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf

from demalign import console, distributed
from demalign.artifacts import MANIFEST, REPORT, Run, write_json, write_text
from demalign.errors import DemalignError
from demalign.secrets import redact, scrub_text

T = TypeVar("T")

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


def config_hash(record: dict[str, Any]) -> str:
    """sha256 of what determines a run's results: what ran, its config without `paths` (which only
    say where files go) and its inputs. Resume reuses a sub-run only when this matches."""
    config = {k: v for k, v in record["config"].items() if k != "paths"}
    canonical = json.dumps(record | {"config": config}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_report(run: Run, kind: str, status: str, error: str | None) -> str:
    """report.md: a header this function owns, then each section under its own `## ` heading."""
    shown = " ".join(run.overrides) if run.overrides else "(none: defaults)"
    parts = [
        f"# demalign {kind} `{run.stage}`\n\n- status: **{status}**\n- folder: `{run.dir}`\n- overrides: `{shown}`\n"
    ]
    parts += [f"## {title}\n\n{body}" for title, body in run.sections]
    if error is not None:
        parts.append(f"## Error\n\n```\n{error}\n```\n")
    return "\n".join(parts)


def execute(
    name: str,
    kind: str,
    run_dir: Path,
    body: Callable[[Run], T],
    record: dict[str, Any],
    overrides: list[str] | None = None,
    resume: bool = False,
) -> tuple[Run, T]:
    """Run `body` in `run_dir` and write `manifest.json` and `report.md` whatever happens;
    re-raises the body's error. `record` holds the config that determines the results (its hash
    goes into the manifest so resume can trust the folder)."""
    started = datetime.now(UTC)
    run = Run(Path(run_dir), name, overrides=list(overrides or []), resume=resume)
    run.seeds["seed"] = int(record["config"]["seed"])
    progress = console.stage_started(run.dir, run.stage)  # the console's one line for this run
    status, error = "ok", None
    try:
        result = body(run)
    except BaseException as exc:
        status = "failed"
        error = scrub_text(f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, DemalignError):
            error += "\n" + scrub_text(traceback.format_exc())
        raise
    finally:
        if run.main:  # rank 0 writes the report and the manifest (demalign.distributed)
            _write_evidence(run, kind, name, status, error, record, started)
        distributed.stage_barrier(status)  # the other ranks wait here for rank 0's manifest
        console.stage_finished(progress, status)
    return run, result


def _write_evidence(
    run: Run, kind: str, name: str, status: str, error: str | None, record: dict[str, Any], started: datetime
) -> None:
    """report.md and manifest.json of a finished (or failed) run."""
    write_text(run.dir / REPORT, scrub_text(render_report(run, kind, status, error)))
    manifest = {
        kind: name,
        "status": status,
        "error": error,
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "overrides": redact(run.overrides),
        **redact(record),
        "config_hash": config_hash(record),
        "git": git_state(),
        "versions": package_versions(),
        "seeds": run.seeds,
        "inputs": run.inputs,
        "outputs": {k: v for k, v in run.outputs.items() if k not in (MANIFEST, REPORT)},
        "metrics": redact(run.metrics),
        "report_sections": [[title, scrub_text(text)] for title, text in run.sections],
        "command": redact(sys.argv),
        "processes": distributed.world_size(),  # ranks of a multi-process launch (rank 0 writes)
    }
    write_json(run.dir / MANIFEST, manifest)
