"""Config schemas, registered in Hydra's ConfigStore on import (`demalign.run` imports this first).

Each YAML option under `conf/` starts its defaults list with its schema, e.g. `- /schema/evaluate@_here_`;
see `schema.py`. Tests that compose the config import this module too (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hydra.core.config_store import ConfigStore

from demalign.config.schema import SCHEMAS
from demalign.errors import ConfigError


def _share_the_store(self: ConfigStore, memo: dict[int, Any]) -> ConfigStore:
    return self


def register() -> None:
    """Store every schema under `schema/...` (idempotent: storing again replaces the same node)."""
    store = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        store.store(group=group, name=name, node=node)
    # Hydra deep-copies its config repository, this process-wide store included, once per group option it
    # lists (~170 times for `--help`, doubling its start-up with the schemas). The store's load() already
    # returns a copy of each node, so the copies can share the one store.
    ConfigStore.__deepcopy__ = _share_the_store  # type: ignore[attr-defined]


def check_complete(node: Any, schema: type, key: str, hint: str) -> None:
    """Raise a ConfigError naming `key.<field>` for each field of `schema` that `node` lacks, so a
    user's own option (an untyped YAML from --config-dir) cannot leave a key to a library default."""
    missing = sorted(f.name for f in dataclasses.fields(schema) if f.name not in node)
    if missing:
        keys = ", ".join(f"{key}.{name}" for name in missing)
        raise ConfigError(f"{key}: missing key(s) {keys}; {hint}")


register()
