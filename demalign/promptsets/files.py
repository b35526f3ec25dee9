"""Prompt files: JSONL and CSV readers whose errors name `file:line`, the bundled sets (package data),
and writing / reading `{id, prompt, category}` JSONL."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.artifacts import numbered_jsonl, write_jsonl
from demalign.errors import ConfigError, DataError
from demalign.promptsets.rows import KEY, ColumnMapping, PromptRow, map_records

BUNDLED_CATEGORIES: tuple[str, ...] = ("adversarial", "borderline", "cooperative")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv",)


def _numbered_csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """`(path:line, record)` for each CSV data row (line = where the record starts; blank lines skipped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)
        header: list[str] | None = None
        start = 1
        try:
            for values in reader:
                line, start = start, reader.line_num + 1
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if header is None:
                    header = [v.strip() for v in values]
                    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
                    if repeated:
                        raise DataError(
                            f"{path}:{line}: repeated column name(s) {', '.join(repeated)} in the header"
                        )
                    continue
                if len(values) != len(header):
                    raise DataError(
                        f"{path}:{line}: malformed CSV: {len(values)} fields, the header has {len(header)} "
                        f"({', '.join(header)}); quote fields that contain commas"
                    )
                yield f"{path}:{line}", dict(zip(header, values, strict=True))
        except csv.Error as err:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV ({err})") from None
    if header is None:
        raise DataError(f"{path}: empty CSV file (no header line)")


def _numbered_json_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for line, record in numbered_jsonl(path):
        yield f"{path}:{line}", record


def file_format(path: Path, fmt: str = "auto") -> str:
    """`jsonl` or `csv`: `fmt` itself, or guessed from the suffix when `auto`."""
    if fmt != "auto":
        if fmt not in ("jsonl", "csv"):
            raise ConfigError(f"{KEY}.format={fmt}: expected auto, jsonl or csv")
        return fmt
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    raise ConfigError(
        f"{KEY}.path={path}: cannot tell the format from the suffix {suffix or '(none)'!r}; "
        f"set {KEY}.format=jsonl or {KEY}.format=csv"
    )


def load_file(path: str | Path, mapping: ColumnMapping | None = None, fmt: str = "auto") -> list[PromptRow]:
    """Prompts from a JSONL (one object per line) or CSV (header line) file through `mapping`
    (default: columns `id`, `prompt`, `category`)."""
    path = Path(path)
    mapping = mapping or ColumnMapping()
    if not path.is_file():
        raise DataError(f"{path}: no such file; set {KEY}.path to a JSONL or CSV file of prompts")
    kind = file_format(path, fmt)
    records = _numbered_json_records(path) if kind == "jsonl" else _numbered_csv(path)
    try:
        rows = map_records(records, mapping, path.stem)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None
    if not rows:
        raise DataError(f"{path}: the file holds no prompts")
    return rows


def bundled_dir() -> Path:
    """The folder of the bundled prompt sets (package data)."""
    return Path(str(resources.files("demalign.data").joinpath("prompt_sets")))


def bundled_path(category: str) -> Path:
    if category not in BUNDLED_CATEGORIES:
        raise ConfigError(
            f"{KEY}.categories: no bundled prompt set {category!r}; "
            f"the bundled sets are {', '.join(BUNDLED_CATEGORIES)}"
        )
    return bundled_dir() / f"{category}.jsonl"


def load_bundled(categories: Sequence[str] = BUNDLED_CATEGORIES) -> list[PromptRow]:
    """The bundled prompts of the named categories, in the order given (ids unique across sets)."""
    if not categories:
        raise ConfigError(f"{KEY}.categories is empty; name at least one of {', '.join(BUNDLED_CATEGORIES)}")
    paths = [bundled_path(str(c)) for c in categories]

    def records() -> Iterator[tuple[str, dict[str, Any]]]:
        for path in paths:
            yield from _numbered_json_records(path)

    return map_records(records(), ColumnMapping(), "bundled")


def write_prompts(path: Path, rows: Iterable[PromptRow]) -> int:
    """Write rows as `{id, prompt, category}` JSONL (atomic); returns the count."""
    return write_jsonl(path, (r.to_dict() for r in rows))


def read_prompts(path: Path) -> list[PromptRow]:
    """Read a `{id, prompt, category}` JSONL file written by `write_prompts` (or by a user)."""
    return load_file(path, ColumnMapping(), "jsonl")
