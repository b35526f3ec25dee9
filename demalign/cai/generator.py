"""The one model a CAI stage talks to (`revise.generator`, `helpful.generator`), as a `ModelSpec`."""

from __future__ import annotations

from typing import Any

from demalign.errors import ConfigError
from demalign.llm.specs import MODEL_KINDS, ModelSpec


def generator_spec(entry: Any, key: str = "revise.generator") -> ModelSpec:
    """`revise.generator` (or another `key`) as a ModelSpec; errors name the key."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{key}={entry!r}: expected {{name, kind, path | model, base_url, api_key_env}}")
    unknown = sorted(set(entry) - {"name", "kind", "path", "model", "base_url", "api_key_env"})
    if unknown:
        raise ConfigError(f"{key}: unknown key(s) {unknown}")
    if entry.get("kind") not in MODEL_KINDS:
        raise ConfigError(f"{key}.kind={entry.get('kind')!r}; choose one of {list(MODEL_KINDS)}")
    if entry["kind"] == "litellm" and not entry.get("model"):
        raise ConfigError(f"{key}.model: a litellm model id is required for kind=litellm")
    if not entry.get("name"):
        raise ConfigError(f"{key}.name: give the generator a short name")
    return ModelSpec(**entry)
