"""Moral-graph files: the DFT / Moral Graph Elicitation export JSON, raw upgrade votes (JSONL or
CSV) and participant demographics, read and validated into plain typed records.

Export schema (DFT's `MoralGraphSummary`, fields kept in their camelCase spelling):

    {"values": [{"id", "title", "instructionsShort", "instructionsDetailed", "evaluationCriteria": [...],
                 "pageRank"?, "votes"?, "contexts"?}],
     "edges":  [{"sourceValueId", "wiserValueId", "contexts": [...],
                 "counts": {"markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions"},
                 "summary": {"wiserLikelihood", "entropy"}}],
     "allEdges"?: [same shape as edges, before the thresholds]}

Raw votes (DFT's `Edge` table): one row per participant and ordered pair,
`userId, fromId, toId, contextId, relationship` with relationship in upgrade | no_upgrade | not_sure.
Value ids are kept as strings (DFT uses integers, other exports strings; a CSV has only strings).
Moral Graph Elicitation's values (`{id, policies, title?, description?}`) and its votes' `type` field
(for `relationship`) are read too.
Every error names the file and line (or the JSON path), the field and the offending value id.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from demalign.artifacts import numbered_jsonl
from demalign.errors import DataError

RELATIONSHIPS = ("upgrade", "no_upgrade", "not_sure")
COUNT_FIELDS = ("markedWiser", "markedNotWiser", "markedLessWise", "markedUnsure", "impressions")
VOTE_FIELDS = ("userId", "fromId", "toId", "contextId", "relationship")
VALUE_FIELDS = ("id", "title", "instructionsShort")
USER_COLUMN = "userId"


@dataclass(frozen=True)
class ValueCard:
    """One values card: what the value attends to (`evaluation_criteria`, DFT's attentional policies)."""

    id: str
    title: str
    instructions_short: str
    instructions_detailed: str
    evaluation_criteria: tuple[str, ...]

    def as_export(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "instructionsShort": self.instructions_short,
            "instructionsDetailed": self.instructions_detailed,
            "evaluationCriteria": list(self.evaluation_criteria),
        }


@dataclass(frozen=True)
class ExportEdge:
    """An edge of an export: the counts as published and the summary it states."""

    source: str
    wiser: str
    contexts: tuple[str, ...]
    counts: dict[str, float]
    wiser_likelihood: float | None
    entropy: float | None


@dataclass(frozen=True)
class MoralGraphExport:
    """A parsed export: value cards by id, the (trimmed) edges and, when exported, every edge."""

    path: Path
    values: dict[str, ValueCard]
    edges: tuple[ExportEdge, ...]
    all_edges: tuple[ExportEdge, ...] | None

    def contexts(self) -> list[str]:
        return sorted({c for edge in self.candidate_edges() for c in edge.contexts})

    def candidate_edges(self) -> tuple[ExportEdge, ...]:
        """The edges before DFT's thresholds when the export has them (`allEdges`), else the kept ones."""
        return self.all_edges if self.all_edges is not None else self.edges


def bundled_dir() -> Path:
    """The bundled synthetic moral graph (package data)."""
    return Path(str(resources.files("demalign.data").joinpath("moral_graph")))


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: no such moral-graph export (moral_graph.path)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def _value_id(raw: Any, where: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or (isinstance(raw, str) and not raw.strip()):
        raise DataError(f"{where}: a value id must be an integer or a non-empty string, got {raw!r}")
    return str(raw).strip()


def _number(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise DataError(f"{where}: expected a count >= 0, got {raw!r}")
    return float(raw)


def parse_value(raw: Any, where: str) -> ValueCard:
    """A DFT values card, or a Moral Graph Elicitation value `{id, policies, title?, description?}`
    (policies become the evaluation criteria, the description the short instructions)."""
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected a values card object, got {type(raw).__name__}")
    mge = "evaluationCriteria" not in raw and "policies" in raw
    required = ("id", "policies") if mge else VALUE_FIELDS
    missing = [name for name in required if not raw.get(name) and raw.get(name) != 0]
    if missing:
        raise DataError(f"{where} (id {raw.get('id')!r}): missing field(s) {missing}")
    key = "policies" if mge else "evaluationCriteria"
    criteria = raw.get(key) or []
    if not isinstance(criteria, list) or not all(isinstance(c, str) and c.strip() for c in criteria):
        raise DataError(f"{where} (id {raw['id']!r}).{key}: expected a list of non-empty strings")
    value_id = _value_id(raw["id"], f"{where}.id")
    title = str(raw.get("title") or f"Value {value_id}").strip()
    short = raw.get("instructionsShort") or raw.get("description") or title
    detailed = raw.get("instructionsDetailed") or (raw.get("description") if mge else "") or ""
    return ValueCard(
        value_id, title, str(short).strip(), str(detailed).strip(), tuple(c.strip() for c in criteria)
    )


def _parse_edge(raw: Any, where: str, values: Mapping[str, ValueCard]) -> ExportEdge:
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: expected an edge object, got {type(raw).__name__}")
    ids = {}
    for field in ("sourceValueId", "wiserValueId"):
        if field not in raw:
            raise DataError(f"{where}: missing field {field}")
        ids[field] = _value_id(raw[field], f"{where}.{field}")
        if ids[field] not in values:
            raise DataError(f"{where}.{field}: value id {ids[field]!r} is not among the export's values")
    contexts = raw.get("contexts")
    if not isinstance(contexts, list) or not contexts or not all(isinstance(c, str) and c for c in contexts):
        raise DataError(f"{where}.contexts: expected a non-empty list of context strings, got {contexts!r}")
    counts_raw = raw.get("counts")
    if not isinstance(counts_raw, Mapping):
        raise DataError(f"{where}.counts: expected an object with {list(COUNT_FIELDS)}")
    unknown = sorted(set(counts_raw) - set(COUNT_FIELDS))
    if unknown:
        raise DataError(f"{where}.counts: unknown field(s) {unknown}; expected {list(COUNT_FIELDS)}")
    counts = {name: _number(counts_raw.get(name, 0), f"{where}.counts.{name}") for name in COUNT_FIELDS}
    summary = raw.get("summary") or {}
    return ExportEdge(
        ids["sourceValueId"], ids["wiserValueId"], tuple(dict.fromkeys(contexts)), counts,
        summary.get("wiserLikelihood"), summary.get("entropy"),
    )  # fmt: skip


def load_export(path: Path | str) -> MoralGraphExport:
    """Parse and validate an export JSON; an edge naming an unknown value names its JSON path."""
    path = Path(path).expanduser()
    document = _load_json(path)
    if not isinstance(document, Mapping) or not isinstance(document.get("values"), list):
        raise DataError(
            f"{path}: expected an object with a `values` list and an `edges` list (DFT export schema)"
        )
    if not isinstance(document.get("edges"), list):
        raise DataError(f"{path}: the `edges` list is missing")
    values: dict[str, ValueCard] = {}
    for index, raw in enumerate(document["values"]):
        card = parse_value(raw, f"{path}: values[{index}]")
        if card.id in values:
            raise DataError(f"{path}: values[{index}].id: value id {card.id!r} appears more than once")
        values[card.id] = card
    edges = tuple(_parse_edge(raw, f"{path}: edges[{i}]", values) for i, raw in enumerate(document["edges"]))
    all_edges = None
    if document.get("allEdges") is not None:
        if not isinstance(document["allEdges"], list):
            raise DataError(f"{path}: `allEdges` must be a list of edges")
        all_edges = tuple(
            _parse_edge(raw, f"{path}: allEdges[{i}]", values) for i, raw in enumerate(document["allEdges"])
        )
    for name, group in (("edges", edges), ("allEdges", all_edges or ())):
        seen: dict[tuple[str, str], int] = {}
        for index, edge in enumerate(group):
            key = (edge.source, edge.wiser)
            if key in seen:
                raise DataError(
                    f"{path}: {name}[{index}]: the pair {edge.source!r} -> {edge.wiser!r} already appears at "
                    f"{name}[{seen[key]}]; an export holds one edge per ordered pair"
                )
            seen[key] = index
    return MoralGraphExport(path, values, edges, all_edges)


def _vote_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            header = set(reader.fieldnames or []) | (
                {"relationship"} if "type" in (reader.fieldnames or []) else set()
            )
            missing = [name for name in VOTE_FIELDS if name not in header]
            if missing:
                raise DataError(f"{path}:1: missing column(s) {missing} (header: {reader.fieldnames})")
            for row in reader:
                yield reader.line_num, row
    else:
        yield from numbered_jsonl(path, VOTE_FIELDS[:-1])


def load_votes(path: Path | str, values: Mapping[str, ValueCard] | None = None) -> pd.DataFrame:
    """Raw upgrade votes as a frame (user_id, from_id, to_id, context, relationship, line).

    Checked per row: every field present and non-empty, relationship one of RELATIONSHIPS, from != to,
    both ids among `values` (when given), and one vote per participant per ordered pair (DFT's
    primary key `(userId, fromId, toId)`; the context is not part of it).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such votes file (moral_graph.votes)")
    rows: list[tuple[str, str, str, str, str, int]] = []
    first_line: dict[tuple[str, str, str], int] = {}
    for line, row in _vote_rows(path):
        where = f"{path}:{line}"
        if "relationship" not in row and "type" in row:  # MGE names the field `type`
            row = {**row, "relationship": row["type"]}
        fields = {}
        for name in VOTE_FIELDS:
            value = row.get(name)
            if value is None:
                raise DataError(
                    f"{where}: missing field {name}" + (" (or MGE's type)" if name == "relationship" else "")
                )
            if isinstance(value, str) and not value.strip():
                raise DataError(f"{where}: field {name} is empty")
            fields[name] = str(value).strip()
        if fields["relationship"] not in RELATIONSHIPS:
            raise DataError(
                f"{where}: relationship {fields['relationship']!r} is unknown; use one of {list(RELATIONSHIPS)}"
            )
        for name in ("fromId", "toId"):
            if values is not None and fields[name] not in values:
                raise DataError(f"{where}: {name} {fields[name]!r} is not a value id of the graph")
        if fields["fromId"] == fields["toId"]:
            raise DataError(
                f"{where}: fromId and toId are both {fields['fromId']!r}; a vote compares two values"
            )
        key = (fields["userId"], fields["fromId"], fields["toId"])
        if key in first_line:
            raise DataError(
                f"{where}: duplicate vote: user {key[0]!r} already voted on {key[1]!r} -> {key[2]!r} at line "
                f"{first_line[key]} (one vote per participant and ordered pair)"
            )
        first_line[key] = line
        rows.append((*key, fields["contextId"], fields["relationship"], line))
    if not rows:
        raise DataError(f"{path}: the file holds no votes")
    return pd.DataFrame(rows, columns=["user_id", "from_id", "to_id", "context", "relationship", "line"])


def load_demographics(path: Path | str, voters: Sequence[str] | None = None) -> pd.DataFrame:
    """Participant demographics (CSV or JSONL with a `userId` column) as a frame indexed by user id.
    Every voter must have a row, so a weighting never drops a participant silently."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such demographics file (moral_graph.demographics)")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        line_of = {i: i + 2 for i in range(len(frame))}  # header is line 1
    else:
        numbered = list(numbered_jsonl(path, (USER_COLUMN,)))
        frame = pd.json_normalize([row for _, row in numbered], sep=".").astype(str)
        line_of = {i: line for i, (line, _) in enumerate(numbered)}
    if USER_COLUMN not in frame.columns:
        raise DataError(f"{path}:1: no {USER_COLUMN} column (columns: {list(frame.columns)})")
    ids = frame[USER_COLUMN].str.strip()
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise DataError(
            f"{path}:{line_of[int(duplicated.index[0])]}: duplicate userId {duplicated.iloc[0]!r}"
        )
    frame = frame.assign(**{USER_COLUMN: ids}).set_index(USER_COLUMN, drop=False).rename_axis(None)
    if voters is not None:
        missing = sorted(set(voters) - set(frame.index))
        if missing:
            raise DataError(f"{path}: no demographics for voter(s) {missing[:5]} ({len(missing)} in all)")
    return frame
