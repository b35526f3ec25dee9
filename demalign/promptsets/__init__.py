"""Prompt sets: rows of `{id, prompt, category}` that generation, critique and evaluation run on.

Three sources, chosen by the `prompts` config group (`conf/prompts/`):

- **bundled**: the team's own adversarial (red-team), borderline (dual-use, sensitive but legitimate)
  and cooperative (ordinary tasks) prompts in `demalign/data/prompt_sets/<category>.jsonl`;
- **file**: any JSONL or CSV file, its columns mapped onto `id`, `prompt`, `category`;
- **hub**: a Hugging Face dataset id + split, loaded lazily with `datasets.load_dataset`, with the same
  column mapping and an optional extractor (`first_human_turn` for `Anthropic/hh-rlhf`'s
  "\\n\\nHuman: …\\n\\nAssistant: …" conversations).

Every problem with a file is a `DataError` naming `file:line` (a hub row: the dataset, split and row),
the column and what to do; a bad setting is a `ConfigError` naming the `prompts.<key>`.

Sampling (`limit` per category) and the held-out evaluation split are seeded and deterministic across
processes (see `demalign.promptsets.split`).

Modules: `rows` (PromptRow, extractors, ColumnMapping, map_records), `files` (JSONL / CSV readers, the
bundled sets, write / read prompts), `hub` (Hugging Face datasets), `split` (categories, duplicates,
limit, the held-out split); this package adds `load_configured`, which reads the `prompts` config node
into a `PromptSet`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demalign.errors import ConfigError
from demalign.promptsets.files import (
    BUNDLED_CATEGORIES,
    CSV_SUFFIXES,
    JSONL_SUFFIXES,
    bundled_dir,
    bundled_path,
    file_format,
    load_bundled,
    load_file,
    read_prompts,
    write_prompts,
)
from demalign.promptsets.hub import hub_label, load_hub
from demalign.promptsets.rows import EXTRACTORS, KEY, ColumnMapping, PromptRow, first_human_turn, map_records
from demalign.promptsets.split import (
    PromptSplit,
    by_category,
    drop_duplicate_prompts,
    eval_count,
    filter_categories,
    limit_per_category,
    normalise,
    split_eval,
)

__all__ = [
    "BUNDLED_CATEGORIES",
    "CSV_SUFFIXES",
    "EXTRACTORS",
    "JSONL_SUFFIXES",
    "KEY",
    "ColumnMapping",
    "PromptRow",
    "PromptSet",
    "PromptSplit",
    "bundled_dir",
    "bundled_path",
    "by_category",
    "configured_part",
    "drop_duplicate_prompts",
    "eval_count",
    "file_format",
    "filter_categories",
    "first_human_turn",
    "limit_per_category",
    "load_bundled",
    "load_configured",
    "load_file",
    "load_hub",
    "map_records",
    "normalise",
    "read_prompts",
    "split_eval",
    "write_prompts",
]


@dataclass
class PromptSet:
    """The prompts a run uses, where they came from, and what was done to them on the way."""

    rows: list[PromptRow]
    source: str  # one line for the report and manifest
    files: list[Path] = field(default_factory=list)  # local files read (for Run.record_input)
    notes: list[str] = field(default_factory=list)

    def split(self, eval_ratio: float, seed: int) -> PromptSplit:
        return split_eval(self.rows, eval_ratio, seed)

    def markdown(self) -> str:
        counts = Counter(r.category for r in self.rows)
        lines = [f"Prompts: {len(self.rows)} from {self.source}"]
        lines.append("; ".join(f"{c} {n}" for c, n in counts.items()) + ".")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _is_missing(cfg: Mapping[str, Any], key: str) -> bool:
    """A `???` value (OmegaConf's MISSING), which `key in cfg` reports as absent."""
    from omegaconf import DictConfig, OmegaConf

    return isinstance(cfg, DictConfig) and OmegaConf.is_missing(cfg, key)


def load_configured(cfg: Mapping[str, Any]) -> PromptSet:
    """The `prompts` config node → a PromptSet: read the source, keep `categories`, drop repeated
    prompts (`dedupe`), then sample `limit` per category (seeded). Split it with
    `prompt_set.split(cfg.eval_ratio, cfg.seed)`."""
    from demalign.config import check_complete
    from demalign.config import schema as schemas

    source = str(cfg.get("source"))
    node_schema = {
        "bundled": schemas.BundledPromptsConf,
        "file": schemas.FilePromptsConf,
        "hub": schemas.HubPromptsConf,
    }.get(source)
    if node_schema is None:
        raise ConfigError(f"{KEY}.source={source}: expected bundled, file or hub")
    unset = [f"{KEY}.{k}" for k in ("path", "dataset", "split") if _is_missing(cfg, k)]
    if unset:
        raise ConfigError(
            f"missing mandatory config key {unset[0]}: set it on the command line ({unset[0]}=...)"
        )
    check_complete(
        cfg, node_schema, KEY, "start the option's defaults list with /schema/prompts/<source>@_here_"
    )
    categories = None if cfg["categories"] is None else [str(c) for c in cfg["categories"]]
    notes: list[str] = []
    files: list[Path] = []
    if source == "bundled":
        categories = list(BUNDLED_CATEGORIES) if categories is None else categories
        rows = load_bundled(categories)
        files = [bundled_path(c) for c in categories]
        described = f"the bundled sets ({', '.join(categories)})"
        categories = None  # already selected
    elif source == "file":
        path = Path(str(cfg["path"]))
        rows = load_file(path, ColumnMapping.from_config(cfg), str(cfg["format"]))
        files = [path]
        described = str(path)
    else:
        dataset, split = str(cfg["dataset"]), str(cfg["split"])
        rows = load_hub(dataset, split, ColumnMapping.from_config(cfg), cfg["data_dir"], cfg["revision"])
        described = f"Hugging Face {hub_label(dataset, split, cfg['data_dir'])}"
        if Path(dataset).is_dir():  # a local download: its files are inputs to hash
            files = [Path(dataset) / str(cfg["data_dir"]) if cfg["data_dir"] else Path(dataset)]
        if cfg["extractor"] != "none":
            described += f", {cfg['extractor']} of column {cfg['prompt_column']!r}"
    rows = filter_categories(rows, categories)
    if cfg["dedupe"]:
        rows, dropped = drop_duplicate_prompts(rows)
        if dropped:
            notes.append(
                f"dropped {dropped} repeated prompt(s) (same text up to case and spacing), kept the first"
            )
    limit = cfg["limit"]
    if limit is not None:
        before = Counter(r.category for r in rows)
        rows = limit_per_category(rows, int(limit), int(cfg["seed"]))
        after = Counter(r.category for r in rows)
        cut = [f"{c} {before[c]} → {after[c]}" for c in before if after[c] < before[c]]
        if cut:
            notes.append(f"limit {limit} per category (seeded sample): {', '.join(cut)}")
    return PromptSet(rows, described, files, notes)


def configured_part(cfg: Mapping[str, Any], part: str, key: str) -> tuple[list[PromptRow], PromptSet]:
    """The `part` (train | eval | all) of the `prompts` group's set, split with the group's eval_ratio
    and seed, and the whole set (its source and files, to record as inputs); `key` names the option
    in errors."""
    prompt_set = load_configured(cfg)
    if part == "all":
        return prompt_set.rows, prompt_set
    split = prompt_set.split(float(cfg["eval_ratio"]), int(cfg["seed"]))
    rows = {"train": split.train, "eval": split.eval}.get(part)
    if rows is None:
        raise ConfigError(f"{key}={part!r}; choose train, eval or all")
    return rows, prompt_set
