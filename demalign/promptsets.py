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
processes: each row gets the key sha256(seed, purpose, category, id), and a category keeps / holds out
the rows with the smallest keys. A row's fate depends only on its own id and its category's size, not
on the file order, `PYTHONHASHSEED` or the number of workers; a larger `eval_ratio` only adds rows to
the eval set.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from demalign.artifacts import numbered_jsonl, write_jsonl
from demalign.errors import ConfigError, DataError

BUNDLED_CATEGORIES: tuple[str, ...] = ("adversarial", "borderline", "cooperative")
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
CSV_SUFFIXES = (".csv",)
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


_COLUMN_KEYS = {"id": "id_column", "prompt": "prompt_column", "category": "category_column"}


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
                    f"set {KEY}.{_COLUMN_KEYS[role]}=<one of them>"
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


# ---- readers ------------------------------------------------------------------------------------------


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


# ---- Hugging Face hub ---------------------------------------------------------------------------------


def _hub_label(dataset: str, split: str, data_dir: str | None) -> str:
    return f"{dataset} ({f'data_dir {data_dir}, ' if data_dir else ''}split {split})"


def _is_unreachable(err: BaseException) -> bool:
    """A connection problem or offline mode (datasets raises ConnectionError for both; huggingface_hub's
    OfflineModeIsEnabled is one; requests / httpx errors are not builtin ConnectionErrors)."""
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(
        names
        & {
            "LocalEntryNotFoundError",
            "OfflineModeIsEnabled",
            "ConnectionError",
            "ConnectTimeout",
            "ConnectError",
            "Timeout",
        }
    )


def load_hub(
    dataset: str,
    split: str,
    mapping: ColumnMapping,
    data_dir: str | None = None,
    revision: str | None = None,
) -> list[PromptRow]:
    """Prompts from a Hugging Face dataset split through `mapping`, loaded with
    `datasets.load_dataset(dataset, data_dir=..., split=..., revision=...)` (from the local cache when
    it is there, even offline). Unreachable hub and no cached copy → DataError naming the dataset and
    saying how to get it or use a local file."""
    import datasets  # lazy: a few seconds of import, only for this source

    label = _hub_label(dataset, split, data_dir)
    try:
        data = datasets.load_dataset(dataset, data_dir=data_dir, split=split, revision=revision)
    except Exception as err:
        if _is_unreachable(err):
            raise DataError(
                f"cannot load the Hugging Face dataset {dataset!r}: the hub is unreachable "
                f"({type(err).__name__}: {err}) and datasets has no cached copy. Download it where the hub "
                f"is reachable (`huggingface-cli download {dataset} --repo-type dataset --local-dir DIR`) and "
                f"set {KEY}.dataset=DIR, or run once online so datasets caches it; or use a local file: "
                f"prompts=file {KEY}.path=<file.jsonl|csv>"
            ) from None
        if type(err).__name__ == "DatasetNotFoundError" or isinstance(err, FileNotFoundError):
            raise DataError(
                f"Hugging Face dataset {dataset!r} not found ({err}); check {KEY}.dataset and {KEY}.data_dir, "
                f"log in for a gated dataset, or use prompts=file"
            ) from None
        if isinstance(err, ValueError) and "split" in str(err).lower():
            raise ConfigError(f"{KEY}.split={split}: {err}") from None
        raise
    found = list(data.column_names)
    for role, column in mapping.roles():
        if column is not None and column not in found:
            raise DataError(
                f"{label}: no column {column!r} (the {role} column; columns found: {', '.join(found)}); "
                f"set {KEY}.{_COLUMN_KEYS[role]}=<one of them>"
            )
    data = data.select_columns(mapping.columns())
    stem = "-".join(p for p in (dataset.rsplit("/", 1)[-1], data_dir, split) if p)
    records = ((f"{label} row {i}", record) for i, record in enumerate(data, start=1))
    rows = map_records(records, mapping, stem)
    if not rows:
        raise DataError(f"{label}: the split holds no rows")
    return rows


# ---- selection: categories, duplicates, limit ----------------------------------------------------------


def _key(seed: int, purpose: str, row: PromptRow) -> str:
    """A row's deterministic random key: the same in every process (no Python hash, no RNG state)."""
    return hashlib.sha256(f"{seed}\x1f{purpose}\x1f{row.category}\x1f{row.id}".encode()).hexdigest()


def by_category(rows: Iterable[PromptRow]) -> dict[str, list[PromptRow]]:
    """Rows grouped by category, categories in order of first appearance, rows in input order."""
    groups: dict[str, list[PromptRow]] = {}
    for row in rows:
        groups.setdefault(row.category, []).append(row)
    return groups


def filter_categories(rows: Sequence[PromptRow], categories: Sequence[str] | None) -> list[PromptRow]:
    """Only rows of the named categories (None: all); a named category with no rows is an error."""
    if categories is None:
        return list(rows)
    found = by_category(rows)
    absent = [c for c in categories if c not in found]
    if absent:
        raise DataError(
            f"{KEY}.categories names {', '.join(map(repr, absent))}, which no prompt has "
            f"(categories found: {', '.join(found)})"
        )
    wanted = set(categories)
    return [row for row in rows if row.category in wanted]


def normalise(prompt: str) -> str:
    """Case- and whitespace-insensitive form used to spot repeated prompts."""
    return " ".join(prompt.casefold().split())


def drop_duplicate_prompts(rows: Sequence[PromptRow]) -> tuple[list[PromptRow], int]:
    """Rows whose prompt (normalised) was seen earlier are dropped, the first kept; returns (rows, dropped).
    Repeated prompts would otherwise land on both sides of the train / eval split."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        text = normalise(row.prompt)
        if text not in seen:
            seen.add(text)
            kept.append(row)
    return kept, len(rows) - len(kept)


def limit_per_category(rows: Sequence[PromptRow], limit: int | None, seed: int) -> list[PromptRow]:
    """At most `limit` rows per category, a seeded sample (the rows with the smallest keys), input
    order kept. `None` keeps everything."""
    if limit is None:
        return list(rows)
    if limit < 1:
        raise ConfigError(f"{KEY}.limit={limit}: expected a positive number of prompts per category, or null")
    keep: set[str] = set()
    for group in by_category(rows).values():
        keep.update(r.id for r in sorted(group, key=lambda r: _key(seed, "limit", r))[:limit])
    return [row for row in rows if row.id in keep]


# ---- held-out split -----------------------------------------------------------------------------------


def eval_count(n: int, eval_ratio: float) -> int:
    """How many of a category's `n` prompts are held out for evaluation.

    round-half-up(n · eval_ratio), then at least 1 (when n ≥ 2 and eval_ratio > 0: every category with
    two prompts is evaluated) and at most n − 1 (training keeps at least one). So a category of one
    prompt goes wholly to train; the count is always within one item of n · eval_ratio.
    Worked: n=10, 0.25 → 3 (2.5 rounds up); n=2, 0.1 → 1; n=1, 0.5 → 0; n=4, 0.9 → 3.
    """
    if not 0.0 <= eval_ratio < 1.0:
        raise ConfigError(f"{KEY}.eval_ratio={eval_ratio}: expected 0 <= eval_ratio < 1")
    if n <= 1 or eval_ratio == 0.0:
        return 0
    return min(n - 1, max(1, math.floor(n * eval_ratio + 0.5)))


@dataclass
class PromptSplit:
    """Train and held-out eval prompts (each in input order), counts per category, and notes for the report."""

    train: list[PromptRow]
    eval: list[PromptRow]
    eval_ratio: float
    seed: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # category -> {prompts, train, eval}
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"Held-out split: eval_ratio {self.eval_ratio}, seed {self.seed}, stratified by category.",
            "",
            "| category | prompts | train | eval |",
            "|---|---:|---:|---:|",
        ]
        for category, c in self.counts.items():
            lines.append(f"| {category} | {c['prompts']} | {c['train']} | {c['eval']} |")
        total = {k: sum(c[k] for c in self.counts.values()) for k in ("prompts", "train", "eval")}
        lines.append(f"| **all** | {total['prompts']} | {total['train']} | {total['eval']} |")
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


def split_eval(rows: Sequence[PromptRow], eval_ratio: float, seed: int) -> PromptSplit:
    """Seeded held-out split, stratified by category: each category holds out `eval_count(n, eval_ratio)`
    rows (those with the smallest keys). Deterministic across processes; train ∪ eval = rows, disjoint."""
    held: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    notes: list[str] = []
    for category, group in by_category(rows).items():
        k = eval_count(len(group), eval_ratio)
        held.update(r.id for r in sorted(group, key=lambda r: _key(seed, "eval", r))[:k])
        counts[category] = {"prompts": len(group), "train": len(group) - k, "eval": k}
        if len(group) == 1 and eval_ratio > 0:
            notes.append(
                f"category {category!r} has a single prompt: it stays in train and the eval set has none "
                f"of this category"
            )
    if eval_ratio == 0:
        notes.append("eval_ratio is 0: no prompts are held out")
    train = [r for r in rows if r.id not in held]
    evaluation = [r for r in rows if r.id in held]
    return PromptSplit(train, evaluation, eval_ratio, seed, counts, notes)


# ---- configured loading -------------------------------------------------------------------------------


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
        described = f"Hugging Face {_hub_label(dataset, split, cfg['data_dir'])}"
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


def write_prompts(path: Path, rows: Iterable[PromptRow]) -> int:
    """Write rows as `{id, prompt, category}` JSONL (atomic); returns the count."""
    return write_jsonl(path, (r.to_dict() for r in rows))


def read_prompts(path: Path) -> list[PromptRow]:
    """Read a `{id, prompt, category}` JSONL file written by `write_prompts` (or by a user)."""
    return load_file(path, ColumnMapping(), "jsonl")
