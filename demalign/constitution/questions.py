"""Questions per constitution clause: from a question writer through the LLM layer, or from the
offline bank; written as `questions/clause_XX.json` and read back as evaluation `Item`s."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from demalign.constitution.clauses import Clause
from demalign.errors import DataError
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallResult, ChatCall
from demalign.llm.execute import execute
from demalign.llm.roles import Role
from demalign.llm.templates import load_template

QUESTION_TEMPLATE = "question_writer"


def question_messages(clause: str, n_questions: int) -> list[dict[str, str]]:
    return load_template(QUESTION_TEMPLATE).messages(clause=clause, n_questions=n_questions)


def normalise_question(question: str) -> str:
    """Key for duplicate detection: case-folded, whitespace collapsed, end punctuation dropped."""
    return " ".join(question.casefold().split()).rstrip("?.! ")


def parse_questions(text: str, n_questions: int, min_chars: int) -> list[str] | None:
    """The first `n_questions` distinct questions of a JSON answer {"questions": [...]} (a ```json
    fence around it is allowed), dropping duplicates and questions shorter than `min_chars`; None if
    the JSON is malformed or fewer than `n_questions` remain (the call is then re-asked)."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("questions"), list):
        return None
    kept: dict[str, str] = {}
    for question in parsed["questions"]:
        if not isinstance(question, str) or len(question.strip()) < min_chars:
            continue
        kept.setdefault(normalise_question(question), question.strip())
    questions = list(kept.values())
    return questions[:n_questions] if len(questions) >= n_questions else None


def question_calls(clauses: Sequence[Clause], n_questions: int, role: Role) -> list[ChatCall]:
    return [role.identity.call(question_messages(clause.text, n_questions)) for clause in clauses]


def generate_questions(
    clauses: Sequence[Clause], n_questions: int, min_chars: int, role: Role, cache: CallCache
) -> tuple[dict[int, list[str] | None], list[CallResult]]:
    """{clause id: questions, or None when no valid answer came back after the retries}, and the
    call results (for usage totals and the raw text of failures). An answer with malformed JSON or
    fewer than `n_questions` distinct questions of `min_chars`+ characters is re-asked."""

    def accept(text: str) -> bool:
        return parse_questions(text, n_questions, min_chars) is not None

    results = execute(
        question_calls(clauses, n_questions, role),
        lambda: role.backend,
        cache,
        role.policy,
        accept,
        desc="questions",
    )
    questions = {
        clause.id: parse_questions(result.text, n_questions, min_chars)
        if result.valid and result.text
        else None
        for clause, result in zip(clauses, results, strict=True)
    }
    return questions, results


def clause_record(clause: Clause, questions: list[str], question_model: str) -> dict[str, Any]:
    """The `questions/clause_XX.json` record."""
    return {
        "clause_id": clause.id,
        "clause": clause.text,
        "questions": questions,
        "question_model": question_model,
    }


@dataclass(frozen=True)
class Item:
    """One question to evaluate, with its clause."""

    question_id: str
    clause_id: int
    clause: str
    question: str


def load_items(questions_dir: Path) -> list[Item]:
    """Every question of every `clause_XX.json` in `questions_dir`, in clause then question order.
    Question ids are `c<clause>_q<index>` (index within its clause file)."""
    files = sorted(Path(questions_dir).glob("clause_*.json"))
    if not files:
        raise DataError(
            f"{questions_dir}: no clause_XX.json files; run stage=questions first (evaluate.questions_dir)"
        )
    items: list[Item] = []
    for file in files:
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
            clause_id, clause, questions = record["clause_id"], record["clause"], record["questions"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{file}: expected {{clause_id, clause, questions}} ({err})") from None
        items += [
            Item(f"c{clause_id:02d}_q{k:02d}", int(clause_id), clause, q) for k, q in enumerate(questions)
        ]
    return sorted(items, key=lambda item: (item.clause_id, item.question_id))


def select_items(
    items: Sequence[Item], questions_per_clause: int | None, max_questions: int | None, seed: int
) -> list[Item]:
    """A deterministic subsample: up to `questions_per_clause` per clause, then up to `max_questions`
    overall, drawn without replacement with `seed`; the result keeps the input order."""
    rng = np.random.default_rng(seed)
    chosen: list[Item] = []
    for clause_id in sorted({item.clause_id for item in items}):
        clause_items = [item for item in items if item.clause_id == clause_id]
        if questions_per_clause is not None and len(clause_items) > questions_per_clause:
            keep = sorted(rng.choice(len(clause_items), size=questions_per_clause, replace=False))
            clause_items = [clause_items[k] for k in keep]
        chosen += clause_items
    if max_questions is not None and len(chosen) > max_questions:
        keep = sorted(rng.choice(len(chosen), size=max_questions, replace=False))
        chosen = [chosen[k] for k in keep]
    return chosen
