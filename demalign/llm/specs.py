"""Which models answer prompts: `ModelSpec` entries (a local checkpoint or an API model), read from
the config list or from the JSON file stage=collect writes, validated with errors naming the entry."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError, DataError

MODEL_KINDS = ("local", "litellm")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    """One model that answers prompts (an entry of `generate.models`): a local checkpoint (`path`;
    None = the `model` group's base model) or an API model (`model`, a litellm id, optionally served
    at `base_url`)."""

    name: str
    kind: str
    path: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None


def model_entries(models: Sequence[Any], models_file: str | Path | None) -> tuple[list[Any], str]:
    """The `generate.models` entries and where they came from (for error messages): the JSON list in
    `models_file` when it is set (stage=collect writes one: base model + checkpoints), else `models`."""
    if models_file is None:
        return list(models), "generate.models"
    path = Path(models_file)
    if models:
        raise ConfigError(
            f"generate.models and generate.models_file={path} are both set; keep one (models_file=null to "
            "use generate.models, or generate.models=[] to use the file)"
        )
    if not path.is_file():
        raise ConfigError(
            f"generate.models_file={path}: no such file; run stage=collect (it writes evaluate_models.json) "
            "or list the models in generate.models"
        )
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise DataError(
            f'{path}: expected a JSON list of model entries like [{{"name": "base", "kind": "local", "path": null}}, '
            "...] (the generate.models format)"
        )
    return entries, str(path)


def parse_model_spec(entry: Any, where: str) -> ModelSpec:
    """One validated model entry; errors name `where` (e.g. `generate.models[1]`)."""
    entry = dict(entry)
    unknown = set(entry) - {"name", "kind", "path", "model", "base_url", "api_key_env"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not _SAFE_NAME.match(name):
        raise ConfigError(f"{where}.name={name!r}: give a short name of letters, digits, '_', '-', '.'")
    if kind is None:  # never guessed: a forgotten kind would answer with the base model under this name
        raise ConfigError(
            f"{where}.kind is missing; set kind: local (a checkpoint) or kind: litellm (an API model)"
        )
    if kind not in MODEL_KINDS:
        raise ConfigError(f"{where}.kind={kind!r}; choose one of {list(MODEL_KINDS)}")
    if kind == "litellm" and not entry.get("model"):
        raise ConfigError(f"{where}.model: a litellm model id is required for kind=litellm")
    if kind == "local" and entry.get("path") and not Path(entry["path"]).exists():
        raise ConfigError(f"{where}.path={entry['path']}: no such checkpoint folder")
    return ModelSpec(**{**entry, "kind": kind})


def parse_model_specs(
    entries: Iterable[Any], source: str = "generate.models", at_least: int = 1
) -> list[ModelSpec]:
    """Validated model specs with unique names, at least `at_least` of them (2 for a comparison);
    errors name `source` (the config key or the models file) and the entry."""
    specs = [parse_model_spec(entry, f"{source}[{index}]") for index, entry in enumerate(entries)]
    names = [spec.name for spec in specs]
    if len(specs) < at_least:
        raise ConfigError(
            f"{source}: need at least {at_least} model(s){' to compare' if at_least > 1 else ''}, got {names}"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: names must be unique, got {names}")
    return specs


def configured_models(
    models: Sequence[Any], models_file: str | Path | None, at_least: int = 1
) -> tuple[tuple[ModelSpec, ...], str]:
    """The validated specs of `generate.models` or `generate.models_file`, and where they came from."""
    entries, source = model_entries(models, models_file)
    return tuple(parse_model_specs(entries, source, at_least)), source
