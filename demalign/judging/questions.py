"""Questions per constitution clause: from an LLM through litellm, or from the offline bank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from demalign.judging.calls import CallCache, CallResult, ChatCall, execute
from demalign.judging.constitution import Clause
from demalign.judging.prompts import parse_questions, question_messages
from demalign.judging.roles import Role


def question_calls(clauses: Sequence[Clause], n_questions: int, role: Role) -> list[ChatCall]:
    return [
        ChatCall(role.identity.name, question_messages(clause.text, n_questions), role.identity.settings)
        for clause in clauses
    ]


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
