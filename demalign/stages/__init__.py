"""The stage contract and table.

Every stage module `demalign.stages.<name>` declares:

- `OPTIONS`: the config node holding its options when it runs alone (`evaluate`, `dataset`, ...);
- `SHARED`: the shared groups it reads (`model`, `trainer`, `judge`, `data`, ...); it receives those,
  `seed` and `paths` as `env`, and nothing else, so its config hash covers exactly what it reads;
- frozen `Inputs` (the artifacts it consumes) with `Inputs.from_config(opts, env)` for a CLI run;
- frozen `Outputs` with `Outputs.in_folder(folder)`, the one place that knows its file names;
- `run(opts, env, inputs, run) -> Outputs`.

Modules are imported only when their stage runs, so `demalign --help` and light stages stay fast.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from demalign.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from demalign.artifacts import Run


@dataclasses.dataclass(frozen=True)
class NoInputs:
    """`Inputs` of a stage that takes nothing from earlier stages (its data comes from config groups)."""

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> NoInputs:
        return cls()


STAGE_NAMES = (
    "explore", "prepare", "train", "sft", "prompts", "questions", "generate", "evaluate", "rank", "critique",
    "select", "compare", "collect", "moral_graph", "value_pairs", "deliberate", "revise", "classify", "cai_eval",
    "helpful",
    "distill", "audit", "repair",
)  # fmt: skip
ALWAYS_SHARED = ("seed", "paths")


def stage_module(name: str) -> ModuleType:
    """The module of a stage, or a ConfigError listing the valid stage names."""
    if name == "pipeline":
        raise ConfigError(
            "stage=pipeline is now a recipe: run `demalign` (recipe=panel_dpo; the pipeline.* keys are recipe.*, "
            "e.g. recipe.stages=[prepare,train])"
        )
    if name not in STAGE_NAMES:
        raise ConfigError(f"stage={name!r} is not a stage. Valid stages: {', '.join(STAGE_NAMES)}")
    return importlib.import_module(f"demalign.stages.{name}")


def summary_line(path: Path) -> str:
    """The first line of a module's docstring, read without importing it (stages import torch)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def stage_summaries() -> dict[str, str]:
    here = Path(__file__).parent
    return {name: summary_line(here / f"{name}.py") for name in STAGE_NAMES}


def _plain(value: Any) -> Any:
    from omegaconf import Container, OmegaConf

    if isinstance(value, Container):
        return OmegaConf.to_container(value, resolve=True, throw_on_missing=False)
    return value


def _resolved(node: Any) -> DictConfig:
    """A resolved, struct-mode copy (mandatory `???` values stay missing), so a stage cannot read
    keys it was not given and interpolations no longer depend on the rest of the config."""
    from omegaconf import OmegaConf

    plain = {k: _plain(v) for k, v in node.items()} if isinstance(node, dict) else _plain(node)
    copy = OmegaConf.create(plain)
    OmegaConf.set_struct(copy, True)
    return copy


def stage_options(cfg: DictConfig, key: str) -> DictConfig:
    """The options node `cfg.<key>` as a resolved copy."""
    return _resolved(cfg[key])


def stage_env(cfg: DictConfig, module: ModuleType) -> DictConfig:
    return _resolved({key: cfg[key] for key in (*ALWAYS_SHARED, *module.SHARED)})  # type: ignore[arg-type]


def inputs_record(inputs: Any) -> dict[str, Any]:
    """A stage's typed inputs as JSON-ready data (paths as strings) for the manifest and its hash."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    return plain(dataclasses.asdict(inputs))


def stage_record(module: ModuleType, opts: DictConfig, env: DictConfig, inputs: Any) -> dict[str, Any]:
    """What determines a stage run's results, as written to its manifest: the config the stage saw
    (its options under their usual key, and the shared groups) and its typed inputs."""
    from omegaconf import OmegaConf

    config = {module.OPTIONS: opts, **env} if module.OPTIONS not in env else dict(env)
    return {
        "stage": module.__name__.rsplit(".", 1)[-1],
        "config": {k: OmegaConf.to_container(v, throw_on_missing=False) if hasattr(v, "keys") else v
                   for k, v in config.items()},
        "stage_inputs": inputs_record(inputs),
    }  # fmt: skip


def run_stage(
    module: ModuleType,
    opts: DictConfig,
    env: DictConfig,
    inputs: Any,
    run_dir: Path,
    overrides: list[str] | None = None,
    resume: bool = False,
) -> tuple[Run, Any]:
    """Run one stage in `run_dir` with manifest and report; returns the run and its `Outputs`."""
    from demalign.execution import execute

    record = stage_record(module, opts, env, inputs)
    return execute(
        record["stage"], "stage", run_dir, lambda run: module.run(opts, env, inputs, run), record,
        overrides, resume,
    )  # fmt: skip


def inputs_from_config(module: ModuleType, opts: DictConfig, env: DictConfig) -> Any:
    """`module.Inputs` built from config keys; a mandatory `???` key still unset is a one-line error
    naming it with its group (`evaluate.responses_dir`), not omegaconf's traceback."""
    from omegaconf.errors import MissingMandatoryValue

    try:
        return module.Inputs.from_config(opts, env)
    except MissingMandatoryValue as err:
        key = f"{module.OPTIONS}.{err.full_key}"
        raise ConfigError(
            f"missing mandatory config key {key}: set it on the command line ({key}=...), or run a recipe that "
            "hands it over"
        ) from None


def run_stage_from_config(
    cfg: DictConfig, name: str, run_dir: Path, overrides: list[str] | None = None
) -> tuple[Run, Any]:
    """`demalign stage=<name>`: options, shared groups and inputs all from the config."""
    module = stage_module(name)
    opts, env = stage_options(cfg, module.OPTIONS), stage_env(cfg, module)
    return run_stage(module, opts, env, inputs_from_config(module, opts, env), run_dir, overrides)
