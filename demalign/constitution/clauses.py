"""Constitutions: the bundled default or the user's own file, clause ranges, and the question bank.

Two file layouts are read:

- YAML: `clauses: [{id: 1, text: "...", questions: ["...", ...]}, ...]` (`questions` optional; the
  bundled default carries a bank of at least 5 real questions per clause);
- text (.txt/.md): one clause per line as `N. text` (or `N) text`); other non-empty lines continue
  the previous clause; lines starting with `#` are comments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from demalign.errors import ConfigError, DataError


@dataclass(frozen=True)
class Clause:
    id: int
    text: str
    questions: tuple[str, ...] = ()


def default_constitution_path() -> Path:
    return Path(str(resources.files("demalign") / "data" / "constitution" / "default.yaml"))


def _parse_yaml(path: Path) -> list[Clause]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataError(f"{where}: not valid YAML ({err})") from None
    entries = document.get("clauses") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{path}: expected a top-level `clauses:` list of {{id, text, questions}}")
    clauses = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int) or not entry.get("text"):
            raise DataError(f"{path}: clauses[{index}] needs an integer `id` and a non-empty `text`")
        questions = entry.get("questions") or []
        if not all(isinstance(q, str) and q.strip() for q in questions):
            raise DataError(
                f"{path}: clauses[{index}] (id {entry['id']}): `questions` must be non-empty strings"
            )
        clauses.append(
            Clause(entry["id"], " ".join(str(entry["text"]).split()), tuple(q.strip() for q in questions))
        )
    return clauses


_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")


def _parse_text(path: Path) -> list[Clause]:
    ids: list[int] = []
    texts: list[list[str]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        numbered = _NUMBERED.match(line)
        if numbered:
            ids.append(int(numbered.group(1)))
            texts.append([numbered.group(2)])
        elif texts:
            texts[-1].append(line.strip())
        else:
            raise DataError(f"{path}:{lineno}: expected a numbered clause like '1. Be honest.'")
    if not ids:
        raise DataError(f"{path}: no numbered clauses ('1. ...') found")
    return [Clause(clause_id, " ".join(parts)) for clause_id, parts in zip(ids, texts, strict=True)]


def constitution_path(path: str | Path | None) -> Path:
    """`constitution.path` resolved: the given file, or the bundled default when it is null."""
    return Path(path).expanduser() if path else default_constitution_path()


def load_constitution(path: str | Path | None) -> tuple[Path, list[Clause]]:
    """(resolved path, clauses) of `path`, or of the bundled default when `path` is None."""
    resolved = constitution_path(path)
    if not resolved.is_file():
        raise ConfigError(f"constitution.path: {resolved} does not exist; give a .yaml or .txt constitution")
    clauses = _parse_yaml(resolved) if resolved.suffix in (".yaml", ".yml") else _parse_text(resolved)
    seen: set[int] = set()
    for clause in clauses:
        if clause.id in seen:
            raise DataError(f"{resolved}: clause id {clause.id} appears more than once")
        seen.add(clause.id)
    return resolved, clauses


def select_clauses(clauses: Sequence[Clause], start: int | None, end: int | None) -> list[Clause]:
    """Clauses with start <= id <= end (None = unbounded). E.g. ids 1..30, start 3, end 5 -> 3, 4, 5."""
    chosen = [c for c in clauses if (start is None or c.id >= start) and (end is None or c.id <= end)]
    if not chosen:
        ids = [c.id for c in clauses]
        raise ConfigError(
            f"constitution.start_clause={start}, constitution.end_clause={end} select no clause "
            f"(ids run from {min(ids)} to {max(ids)})"
        )
    return chosen


def bank_questions(clause: Clause, n_questions: int, source: Path) -> list[str]:
    """The first `n_questions` bank questions of a clause (the offline `questions.backend=bank`)."""
    if len(clause.questions) < n_questions:
        raise ConfigError(
            f"questions.n_questions={n_questions}: clause {clause.id} of {source} has only "
            f"{len(clause.questions)} bank questions; lower questions.n_questions or use questions.backend=litellm"
        )
    return list(clause.questions[:n_questions])
