"""The one entry point: `demalign [recipe=<name> | stage=<name>] [group=option ...] [key=value ...]`.

Hydra composes the config and picks the run folder; a recipe (the default: panel_dpo) or one stage
runs there and writes `manifest.json` and `report.md` whatever happens. A DemalignError (bad input
or config) is printed without a traceback and exits non-zero; any other exception is a bug and keeps
its traceback. `demalign --list` prints every recipe and stage with one line each.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

import demalign.config  # noqa: F401  (registers the config schemas before Hydra composes)
from demalign import console
from demalign.artifacts import MANIFEST, REPORT
from demalign.distributed import is_main_process
from demalign.errors import ConfigError, DemalignError
from demalign.execution import PROJECT_ROOT, execute, plain_config
from demalign.secrets import scrub_text

RUN_ID_FORMAT = "%Y-%m-%d_%H-%M-%S_%f"


def job_name(stage: str | None, recipe: str) -> str:
    """Run folders are grouped by what ran: the stage when one is named, else the recipe."""
    return stage or recipe


def run_folder(output_dir: str, stage: str | None, recipe: str, resume: Any) -> str:
    """A new timestamped folder, or with `resume=true` the newest one of this recipe whose manifest
    is not `ok` (killed or failed). Two runs started in the same second never collide (microseconds)."""
    parent = Path(output_dir) / job_name(stage, recipe)
    if resume is True and stage is None:
        unfinished = [
            folder for folder in sorted(parent.glob("????-??-??_*"), reverse=True)
            if folder.is_dir() and not _finished(folder)
        ]  # fmt: skip
        if unfinished:
            return str(unfinished[0])
        print(f"resume: no unfinished {recipe} run under {parent}; starting a new one", file=sys.stderr)
    return str(parent / datetime.now().strftime(RUN_ID_FORMAT))


def _finished(folder: Path) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("status") == "ok"
    except (OSError, ValueError):
        return False


OmegaConf.register_new_resolver("job_name", job_name, replace=True)
OmegaConf.register_new_resolver("run_folder", run_folder, replace=True)


def run_recipe(
    cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None, resume: bool = False
) -> Any:
    """Run `cfg.recipe.name` in `run_dir`: its steps in sub-folders, one manifest and report for all."""
    from demalign.recipes import recipe_module
    from demalign.recipes.context import RecipeContext
    from demalign.stages import stage_options

    name = str(cfg.recipe.name)
    module = recipe_module(name)
    record = {"recipe": name, "config": plain_config(cfg)}

    def body(run: Any) -> RecipeContext:
        ctx = RecipeContext(cfg, run, resume=resume)
        module.run(ctx, stage_options(cfg, "recipe"))
        ctx.finish()
        return ctx

    return execute(name, "recipe", run_dir, body, record, overrides, resume)[0]


def run_configured(cfg: DictConfig, run_dir: Path, overrides: list[str] | None = None) -> Any:
    """What `demalign` runs for a composed config: `stage` alone when set, else the recipe."""
    if cfg.stage is None:
        return run_recipe(cfg, run_dir, overrides, resume=bool(cfg.resume))
    if cfg.resume:
        raise ConfigError("resume=true applies to recipes; a single stage=<name> run always starts fresh")
    from demalign.stages import run_stage_from_config

    return run_stage_from_config(cfg, str(cfg.stage), run_dir, overrides)[0]


def print_list() -> None:
    from demalign.recipes import recipe_summaries
    from demalign.stages import stage_summaries

    print("Recipes (demalign recipe=<name>; the default is panel_dpo):")
    for name, line in recipe_summaries().items():
        print(f"  {name:<12} {line}")
    print("Stages (demalign stage=<name>, one stage alone):")
    for name, line in stage_summaries().items():
        print(f"  {name:<12} {line}")


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def hydra_main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        # quiet console: library output goes to <run>/run.log (the session logs an error there too)
        with console.session(run_dir, verbose=bool(cfg.verbose)):
            run = run_configured(cfg, run_dir, list(hydra_cfg.overrides.task))
    except (DemalignError, MissingMandatoryValue) as err:
        if isinstance(err, MissingMandatoryValue):  # a `???` key read before it was set
            key = err.full_key
            err = DemalignError(f"missing mandatory config key {key} (set it on the command line: {key}=...)")
        print(f"demalign: error: {scrub_text(str(err))}", file=sys.stderr)
        sys.exit(1)
    if is_main_process():  # one report line for a multi-process run
        print(f"{run.stage}: done. Report: {run.dir / REPORT}")


def main() -> None:
    if "--list" in sys.argv[1:]:
        print_list()
        return
    hydra_main()


if __name__ == "__main__":
    main()
