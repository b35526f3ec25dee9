"""Prompt rows and the column mapping: `PromptRow`, the prompt extractors, `ColumnMapping` and
`map_records`, which turns `(where, record)` pairs from any source into rows with errors naming `where`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from demalign.errors import ConfigError, DataError

KEY = "prompts"  # the config group; error messages name prompts.<key>


@dataclass(frozen=True)
class PromptRow:
    """One prompt: a stable id, the user's text and its category (adversarial, borderline, …)."""

    id: str
    prompt: str
    category: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "prompt": self.prompt, "category": self.category}


# ---- extractors ---------------------------------------------------------------------------------------

_FIRST_HUMAN = re.compile(r"\A\s*Human:[ \t]*(.*?)(?:\n\nAssistant:|\Z)", re.S)


def first_human_turn(text: str) -> str:
    """The first human turn of an hh-rlhf style conversation.

    "\\n\\nHuman: Hi there\\n\\nAssistant: Hello!\\n\\nHuman: more" → "Hi there". The text must start
    (after whitespace) with "Human:"; the turn ends at the first "\\n\\nAssistant:" or the end of text.
    """
    match = _FIRST_HUMAN.match(text)
    if match is None:
        raise ValueError(
            "does not start with a 'Human:' turn (the first_human_turn extractor expects "
            "'\\n\\nHuman: …\\n\\nAssistant: …')"
        )
    return match.group(1).strip()


def _as_is(text: str) -> str:
    return text


EXTRACTORS: dict[str, Callable[[str], str]] = {"none": _as_is, "first_human_turn": first_human_turn}


# ---- column mapping -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns of a file or dataset hold the id, the prompt and the category.

    - `id_column=None` is allowed only with `generate_ids=True`: ids are then `<stem>-<row>` (row = the
      1-based record number, blank lines not counted), never invented without being asked;
    - the category comes from `category_column`, or is the constant `category` for every row (exactly
      one of the two);
    - `extractor` turns the prompt column's text into the prompt (`none`: as is).
    """

    prompt_column: str = "prompt"
    id_column: str | None = "id"
    category_column: str | None = "category"
    category: str | None = None
    generate_ids: bool = False
    extractor: str = "none"

    def __post_init__(self) -> None:
        if self.id_column is None and not self.generate_ids:
            raise ConfigError(
                f"{KEY}.id_column is null and {KEY}.generate_ids=false: name the id column "
                f"({KEY}.id_column=<column>) or ask for generated ids ({KEY}.generate_ids=true: <file-stem>-<row>)"
            )
        if self.id_column is not None and self.generate_ids:
            raise ConfigError(
                f"{KEY}.generate_ids=true but {KEY}.id_column={self.id_column}: choose one "
                f"(set {KEY}.id_column=null to number the rows)"
            )
        if (self.category_column is None) == (self.category is None):
            raise ConfigError(
                f"set exactly one of {KEY}.category_column (a column holding each row's category) and "
                f"{KEY}.category (one category for every row); got category_column={self.category_column}, "
                f"category={self.category}"
            )
        if self.extractor not in EXTRACTORS:
            raise ConfigError(f"{KEY}.extractor={self.extractor}: expected one of {', '.join(EXTRACTORS)}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ColumnMapping:
        return cls(
            prompt_column=cfg["prompt_column"],
            id_column=cfg["id_column"],
            category_column=cfg["category_column"],
            category=cfg["category"],
            generate_ids=bool(cfg["generate_ids"]),
            extractor=str(cfg["extractor"]),
        )

    def roles(self) -> list[tuple[str, str | None]]:
        """(role, column) for id, prompt and category; None where the value is not read from a column."""
        return [("id", self.id_column), ("prompt", self.prompt_column), ("category", self.category_column)]

    def columns(self) -> list[str]:
        return [column for _, column in self.roles() if column is not None]


COLUMN_KEYS = {"id": "id_column", "prompt": "prompt_column", "category": "category_column"}


def _text(value: Any, where: str, column: str, what: str, allow_int: bool = False) -> str:
    if isinstance(value, str):
        return value
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    kind = "null" if value is None else type(value).__name__
    raise DataError(f"{where}: column {column!r} ({what}) holds {kind}, expected text")


def map_records(
    records: Iterable[tuple[str, dict[str, Any]]], mapping: ColumnMapping, stem: str
) -> list[PromptRow]:
    """Rows from `(where, record)` pairs (where = "file:line" or a hub row) through the mapping.

    Raises DataError naming `where` for a missing column (with the columns found), a non-text value,
    an empty prompt / id / category, a prompt the extractor cannot read, or a duplicate id (naming
    both places).
    """
    extract = EXTRACTORS[mapping.extractor]
    rows: list[PromptRow] = []
    first_seen: dict[str, str] = {}
    for number, (where, record) in enumerate(records, start=1):
        for role, column in mapping.roles():
            if column is not None and column not in record:
                found = ", ".join(map(str, record)) or "none"
                raise DataError(
                    f"{where}: no column {column!r} (the {role} column; columns found: {found}); "
                    f"set {KEY}.{COLUMN_KEYS[role]}=<one of them>"
                )
        if mapping.id_column is None:
            row_id = f"{stem}-{number}"
        else:
            row_id = _text(record[mapping.id_column], where, mapping.id_column, "id", allow_int=True).strip()
            if not row_id:
                raise DataError(f"{where}: empty id in column {mapping.id_column!r}")
        raw = _text(record[mapping.prompt_column], where, mapping.prompt_column, "prompt")
        try:
            prompt = extract(raw).strip()
        except ValueError as err:
            raise DataError(f"{where}: column {mapping.prompt_column!r} {err}") from None
        if not prompt:
            raise DataError(
                f"{where}: empty prompt in column {mapping.prompt_column!r}; remove the row or fill it"
            )
        if mapping.category_column is None:
            category = str(mapping.category)
        else:
            category = _text(
                record[mapping.category_column], where, mapping.category_column, "category"
            ).strip()
            if not category:
                raise DataError(f"{where}: empty category in column {mapping.category_column!r}")
        if row_id in first_seen:
            raise DataError(
                f"{where}: duplicate id {row_id!r} (first at {first_seen[row_id]}); ids must be unique: "
                f"fix the file, or number the rows with {KEY}.id_column=null {KEY}.generate_ids=true"
            )
        first_seen[row_id] = where
        rows.append(PromptRow(row_id, prompt, category))
    return rows
