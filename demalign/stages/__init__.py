"""The stage table: `stage=<name>` runs `demalign.stages.<name>.run(cfg, run)`.

Modules are imported only when their stage runs, so `demalign --help` and light stages stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from demalign.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from demalign.artifacts import Run

STAGE_NAMES = ("explore", "prepare", "train", "questions", "evaluate", "rank", "pipeline", "collect")

StageFn = Callable[["DictConfig", "Run"], None]


def stage_function(name: str) -> StageFn:
    """The `run` function of a stage, or a ConfigError listing the valid stage names."""
    if name not in STAGE_NAMES:
        raise ConfigError(f"stage={name!r} is not a stage. Valid stages: {', '.join(STAGE_NAMES)}")
    return importlib.import_module(f"demalign.stages.{name}").run
