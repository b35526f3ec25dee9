"""The candidates file: N answers per prompt that a critic scores and the select stage curates.

One JSON object per line:

    {"prompt_id": "adv-003", "prompt": "...", "candidate_id": "adv-003/1", "candidate": "...", "category": "adversarial"}

- `prompt_id`, `candidate_id`: non-empty strings (integers are read as their decimal string); a
  (prompt_id, candidate_id) pair appears once;
- `prompt`: the user prompt, the same text on every line of a prompt_id;
- `candidate`: the completion only (never the prompt echoed back), a string (empty allowed: it is a
  bad answer, not a missing one; a failed generation has no line);
- `category` (optional): e.g. adversarial / borderline / cooperative; null or absent = none.

The order of the lines matters: it is the candidates' order in every later file, and ties in
selection go to the candidate that comes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from demalign.artifacts import numbered_jsonl
from demalign.errors import DataError

CANDIDATE_FIELDS = ("prompt_id", "prompt", "candidate_id", "candidate")


@dataclass(frozen=True)
class Candidate:
    prompt_id: str
    prompt: str
    candidate_id: str
    candidate: str
    category: str | None = None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def _identifier(value: Any, name: str, where: str) -> str:
    if (
        isinstance(value, bool)
        or not isinstance(value, str | int)
        or (isinstance(value, str) and not value.strip())
    ):
        raise DataError(f"{where}: `{name}` must be a non-empty string (got {value!r})")
    return str(value)


def parse_candidate(row: dict[str, Any], where: str) -> Candidate:
    """One line's candidate; `where` (file:line) names it in errors."""
    prompt, candidate, category = row["prompt"], row["candidate"], row.get("category")
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(f"{where}: `prompt` must be a non-empty string")
    if not isinstance(candidate, str):
        raise DataError(
            f"{where}: `candidate` must be a string (got {type(candidate).__name__}); a failed generation has no "
            "line: rerun generation to fill it"
        )
    if category is not None and not isinstance(category, str):
        raise DataError(f"{where}: `category` must be a string or null (got {category!r})")
    return Candidate(
        _identifier(row["prompt_id"], "prompt_id", where), prompt,
        _identifier(row["candidate_id"], "candidate_id", where), candidate, category,
    )  # fmt: skip


def check_candidates(items: Iterable[tuple[str, Candidate]]) -> None:
    """(file:line, candidate) pairs: each (prompt_id, candidate_id) once, one prompt text per prompt_id."""
    seen: dict[tuple[str, str], str] = {}
    prompts: dict[str, tuple[str, str]] = {}
    for where, cand in items:
        key = (cand.prompt_id, cand.candidate_id)
        if key in seen:
            raise DataError(
                f"{where}: candidate {cand.candidate_id!r} of prompt {cand.prompt_id!r} already appears at {seen[key]}"
            )
        seen[key] = where
        first = prompts.setdefault(cand.prompt_id, (cand.prompt, where))
        if first[0] != cand.prompt:
            raise DataError(
                f"{where}: prompt {cand.prompt_id!r} has a different prompt text than at {first[1]}"
            )


def load_candidates(path: Path | str) -> list[Candidate]:
    """The candidates of a file, in file order; a malformed line is a DataError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no candidates file (JSONL of {{{', '.join(CANDIDATE_FIELDS)}, category?}})")
    located = [(f"{path}:{lineno}", parse_candidate(row, f"{path}:{lineno}"))
               for lineno, row in numbered_jsonl(path, CANDIDATE_FIELDS)]  # fmt: skip
    if not located:
        raise DataError(f"{path}: no candidates (the file is empty)")
    check_candidates(located)
    return [cand for _, cand in located]
