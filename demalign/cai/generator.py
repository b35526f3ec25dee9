"""The one model a CAI stage talks to (`revise.generator`, `helpful.generator`), as a `ModelSpec`."""

from __future__ import annotations

from typing import Any

from demalign.errors import ConfigError
from demalign.llm.specs import ModelSpec, parse_model_spec


def generator_spec(entry: Any, key: str = "revise.generator") -> ModelSpec:
    """`revise.generator` (or another `key`) as a validated ModelSpec; errors name the key."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{key}={entry!r}: expected {{name, kind, path | model, base_url, api_key_env}}")
    return parse_model_spec(entry, key)
