"""`questions.n_questions` questions per constitution clause -> `questions/clause_XX.json`.

    demalign stage=questions                                      # offline: the bundled question bank
    demalign stage=questions questions.backend=litellm            # gpt-5.2, key from $OPENAI_API_KEY
    demalign stage=questions questions.backend=litellm questions.base_url=http://localhost:8000/v1 questions.model=m

With litellm every finished call is cached under `questions.cache_dir`, so a rerun (after a crash
too) asks nothing twice. A clause without a valid answer after the retries is listed in the report
and fails the run after the other clauses are written; rerun to retry just those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.constitution.clauses import (
    bank_questions,
    constitution_path,
    load_constitution,
    select_clauses,
)
from demalign.constitution.questions import clause_record, generate_questions
from demalign.errors import ConfigError, DataError
from demalign.llm.cache import CallCache
from demalign.llm.execute import usage_summary
from demalign.llm.roles import litellm_role
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "questions"
SHARED = ("constitution",)
BACKENDS = ("bank", "litellm")
QUESTIONS = "questions"


@dataclass(frozen=True)
class Inputs:
    constitution: Path  # the clauses to write questions for (a recipe may hand over generated ones)

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        # constitution.path null documents the bundled default constitution
        return cls(constitution=constitution_path(env.constitution.path))


@dataclass(frozen=True)
class Outputs:
    questions_dir: Path  # questions/clause_XX.json, one file per clause

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(questions_dir=Path(folder) / QUESTIONS)


def run(qcfg: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    if qcfg.backend not in BACKENDS:
        raise ConfigError(f"questions.backend={qcfg.backend!r}; choose one of {list(BACKENDS)}")
    source, clauses = load_constitution(inputs.constitution)
    run.record_input(source)
    clauses = select_clauses(clauses, env.constitution.start_clause, env.constitution.end_clause)
    n_questions = int(qcfg.n_questions)

    usage = None
    if qcfg.backend == "bank":
        question_model = f"bank:{source.name}"
        questions = {clause.id: bank_questions(clause, n_questions, source) for clause in clauses}
        failures: dict[int, str] = {}
    else:
        question_model = str(qcfg.model)
        role = litellm_role(qcfg, "questions")
        cache = CallCache(Path(qcfg.cache_dir) / "calls.jsonl")
        questions, results = generate_questions(
            clauses, n_questions, int(qcfg.min_question_chars), role, cache
        )
        failures = {
            clause.id: result.error or f"unusable answer: {(result.text or '')[:200]!r}"
            for clause, result in zip(clauses, results, strict=True)
            if questions[clause.id] is None
        }
        usage = usage_summary(results)

    written = 0
    for clause in clauses:
        if questions[clause.id] is not None:
            run.write_json(
                f"{QUESTIONS}/clause_{clause.id:02d}.json",
                clause_record(clause, questions[clause.id], question_model),
            )
            written += 1

    run.metrics.update(clauses=len(clauses), clauses_written=written, clauses_failed=len(failures),
                       questions=written * n_questions, question_model=question_model)  # fmt: skip
    if usage:
        run.metrics["usage"] = usage
    run.section(
        "Questions",
        f"Constitution: `{source}` (clauses {clauses[0].id}–{clauses[-1].id}); "
        f"{n_questions} questions per clause from `{question_model}`.\n\n"
        + markdown_table(
            [{"clause_id": c.id, "questions": len(questions[c.id] or []), "clause": c.text} for c in clauses]
        ),
    )
    if usage:
        run.section("API usage", markdown_table([usage]))
    if failures:
        run.section(
            "Clauses without valid questions",
            markdown_table([{"clause_id": k, "error": v} for k, v in failures.items()]),
        )
        raise DataError(
            f"questions: no valid questions for clause(s) {sorted(failures)} after questions.invalid_retries="
            f"{qcfg.invalid_retries}; see report.md in {run.dir}. Rerun to retry only those (finished calls are cached)."
        )
    return Outputs.in_folder(run.dir)
