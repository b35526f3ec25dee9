"""Config schemas, registered in Hydra's ConfigStore on import (`demalign.run` imports this first).

Each YAML option under `conf/` starts its defaults list with its schema, e.g. `- /schema/evaluate@_here_`;
see `schema.py`. Tests that compose the config import this module too (tests/conftest.py).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from demalign.config.schema import SCHEMAS


def register() -> None:
    """Store every schema under `schema/...` (idempotent: storing again replaces the same node)."""
    store = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        store.store(group=group, name=name, node=node)


register()
