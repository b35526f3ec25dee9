"""A response set: every model's answer to every question, as the generate stage writes it and the
evaluate stage reads it back.

    responses/models.json        the model entries, in comparison order
    responses/<model>.jsonl      {question_id, clause_id, clause, question, model, response, error}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from demalign.artifacts import numbered_jsonl
from demalign.constitution.questions import Item
from demalign.errors import DataError
from demalign.llm.calls import CallResult
from demalign.llm.specs import ModelSpec, parse_model_specs

MODELS_FILE = "models.json"
ROW_FIELDS = ("question_id", "clause_id", "clause", "question", "model", "response", "error")


def response_rows(items: Sequence[Item], model: str, results: Sequence[CallResult]) -> list[dict[str, Any]]:
    """One row per question, in question order; `response` None (with `error`) where the call failed."""
    return [
        {"question_id": item.question_id, "clause_id": item.clause_id, "clause": item.clause,
         "question": item.question, "model": model, "response": result.text, "error": result.error}
        for item, result in zip(items, results, strict=True)
    ]  # fmt: skip


def models_record(specs: Sequence[ModelSpec]) -> list[dict[str, Any]]:
    return [asdict(spec) for spec in specs]


def load_response_set(folder: Path) -> tuple[list[Item], list[ModelSpec], dict[str, dict[str, str]]]:
    """(questions, models, responses[model][question_id]) of a response set. Every model must have
    answered every question: a missing or failed response is an error naming the file and line."""
    folder = Path(folder)
    index = folder / MODELS_FILE
    if not index.is_file():
        raise DataError(
            f"{folder}: no {MODELS_FILE}; point evaluate.responses_dir at a generate run's responses/"
        )
    try:
        specs = parse_model_specs(json.loads(index.read_text(encoding="utf-8")), str(index), at_least=2)
    except json.JSONDecodeError as err:
        raise DataError(f"{index}:{err.lineno}: not valid JSON ({err.msg})") from None
    items: dict[str, Item] = {}
    responses: dict[str, dict[str, str]] = {}
    for spec in specs:
        path = folder / f"{spec.name}.jsonl"
        if not path.is_file():
            raise DataError(f"{path}: missing; {index} lists model {spec.name!r}")
        answers: dict[str, str] = {}
        for lineno, row in numbered_jsonl(path, ROW_FIELDS):
            if row["response"] is None:
                raise DataError(
                    f"{path}:{lineno}: no response for {row['question_id']} ({row['error']}); rerun generate"
                )
            item = Item(
                str(row["question_id"]), int(row["clause_id"]), str(row["clause"]), str(row["question"])
            )
            if items.setdefault(item.question_id, item) != item:
                raise DataError(
                    f"{path}:{lineno}: question {item.question_id} differs from another model's file"
                )
            answers[item.question_id] = str(row["response"])
        responses[spec.name] = answers
    for spec in specs:
        missing = sorted(set(items) - set(responses[spec.name]))
        if missing:
            raise DataError(
                f"{folder / f'{spec.name}.jsonl'}: no answer to {missing[:5]} (other models answered them)"
            )
    ordered = sorted(items.values(), key=lambda item: (item.clause_id, item.question_id))
    return ordered, specs, responses
