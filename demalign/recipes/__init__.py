"""The recipe table: `recipe=<name>` runs `demalign.recipes.<name>.run(ctx, opts)`.

A recipe is one workflow written as plain Python (loops and branches where the science has them);
each step is `ctx.stage(...)` (see `context.py`). Modules are imported only when their recipe runs.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from demalign.errors import ConfigError
from demalign.stages import summary_line

RECIPE_NAMES = ("panel_dpo", "curate_sft", "moral_graph", "cai", "dart")


def recipe_module(name: str) -> ModuleType:
    """The module of a recipe, or a ConfigError listing the valid recipe names."""
    if name not in RECIPE_NAMES:
        raise ConfigError(f"recipe={name!r} is not a recipe. Valid recipes: {', '.join(RECIPE_NAMES)}")
    return importlib.import_module(f"demalign.recipes.{name}")


def recipe_summaries() -> dict[str, str]:
    here = Path(__file__).parent
    return {name: summary_line(here / f"{name}.py") for name in RECIPE_NAMES}
