"""The teacher: given the gold label, it writes a 2–4 sentence analysis ending `Conclusion: <label>`.

`distill` asks for every training task (`data/prompts/dart_distill/`); `repair` asks for a safe
rewrite of every regression-pool case, shown the flagged answer (`dart_repair/`). An answer without a
parseable conclusion is re-asked up to `format_fix_rounds` times as a follow-up turn (the answer, then
`dart_format_fix/`), each round a distinct cached call; a target is kept only if its conclusion parses
and equals the gold label. Every drop is counted by reason: `call_failed` (no answer after the call's
retries), `unparseable` (no conclusion after every round), `label_mismatch` (a conclusion other than
the gold label: the teacher disagreed, so the analysis cannot teach the gold answer).

Offline, `backend: template` writes a fixed-form analysis from the question and label (no model):
a stand-in that keeps the recipe runnable without an API, not a teacher.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from demalign.dart.conclusions import analysis_only, parse_conclusion, sentence_count
from demalign.dart.tasks import TaskRow
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute
from demalign.llm.roles import Role, litellm_role
from demalign.llm.scripted import ScriptedBackend
from demalign.llm.templates import load_template

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from demalign.artifacts import Run

DROP_REASONS = ("call_failed", "unparseable", "label_mismatch")
TEMPLATE_VERSION = 1


def template_reply(call: ChatCall) -> str:
    """The offline template teacher: two sentences naming the label's reading, then the conclusion."""
    text = "\n".join(m["content"] for m in call.messages)
    label = re.search(r"Gold label: (YES|NO)", text)
    gold = label.group(1) if label else "NO"
    if gold == "YES":
        body = ("The question concerns a practical or legal fact that genuinely differs between the groups. "
                "Recognising that difference is what makes the answer accurate and useful.")  # fmt: skip
    else:
        body = ("Nothing in the question makes group membership relevant to the decision. "
                "The groups should be treated alike, and assuming otherwise would be a stereotype.")  # fmt: skip
    return f"{body}\nConclusion: {gold}"


def teacher_role(node: Mapping[str, Any]) -> Role:
    """The `teacher` group's caller: litellm (any provider or base_url) or the offline template."""
    if node["backend"] == "template":
        return Role(Identity("template-teacher", {"version": TEMPLATE_VERSION}), CallPolicy(batch_size=256, invalid_retries=0),
                    lambda: ScriptedBackend(template_reply))  # fmt: skip
    role = litellm_role(node, "teacher")
    # Parsing happens here, round by round with a follow-up turn, so the executor re-asks nothing itself.
    return Role(
        role.identity,
        CallPolicy(**{**role.policy.__dict__, "invalid_retries": 0}),
        role.make_backend,
        role.price_model,
    )


@dataclass(frozen=True)
class TeacherJob:
    """One target to write: the task, and for a repair the flagged answer and its severity."""

    task: TaskRow
    flagged: str | None = None
    severity: str | None = None


def first_messages(job: TeacherJob) -> list[dict[str, str]]:
    values = {"question": job.task.question, "label": job.task.label}
    if job.flagged is None:
        return load_template("dart_distill").messages(**values)
    return load_template("dart_repair").messages(**values, flagged=job.flagged)


def fix_messages(messages: list[dict[str, str]], answer: str, label: str) -> list[dict[str, str]]:
    return [*messages, {"role": "assistant", "content": answer},
            {"role": "user", "content": load_template("dart_format_fix").render("user", label=label)}]  # fmt: skip


@dataclass
class TeacherOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)  # kept targets
    drops: list[dict[str, Any]] = field(default_factory=list)  # {id, reason, text, rounds}
    calls: list[ChatCall] = field(default_factory=list)
    results: list[CallResult] = field(default_factory=list)

    def drop_counts(self) -> dict[str, int]:
        counts = Counter(d["reason"] for d in self.drops)
        return {reason: counts.get(reason, 0) for reason in DROP_REASONS}


def run_teacher(
    jobs: Sequence[TeacherJob], role: Role, cache: CallCache, format_fix_rounds: int, desc: str = "teacher",
    execute_fn: Callable[..., list[CallResult]] = execute,
) -> TeacherOutcome:  # fmt: skip
    """Targets for `jobs` (module docstring): round 0 for every job, then format-fix rounds for the
    answers without a conclusion. Resumable: every call goes through `cache`."""
    outcome = TeacherOutcome()
    messages = {i: first_messages(job) for i, job in enumerate(jobs)}
    pending = list(messages)
    for round_index in range(format_fix_rounds + 1):
        if not pending:
            break
        calls = [role.identity.call(messages[i]) for i in pending]
        results = execute_fn(
            calls, lambda: role.backend, cache, role.policy, desc=f"{desc} round {round_index}"
        )
        outcome.calls += calls
        outcome.results += results
        retry = []
        for i, result in zip(pending, results, strict=True):
            job = jobs[i]
            where = {"id": job.task.id, "rounds": round_index + 1}
            if result.text is None:
                outcome.drops.append({**where, "reason": "call_failed", "text": None, "error": result.error})
                continue
            parsed = parse_conclusion(result.text)
            if parsed is None:
                if round_index < format_fix_rounds:
                    messages[i] = fix_messages(messages[i], result.text, job.task.label)
                    retry.append(i)
                else:
                    outcome.drops.append({**where, "reason": "unparseable", "text": result.text})
                continue
            if parsed != job.task.label:
                outcome.drops.append(
                    {**where, "reason": "label_mismatch", "text": result.text, "parsed": parsed}
                )
                continue
            row = {**job.task.as_record(), "target": result.text.strip(), "analysis_sentences":
                   sentence_count(analysis_only(result.text)), "rounds": round_index + 1}  # fmt: skip
            if job.severity is not None:
                row["severity"] = job.severity
            outcome.rows.append(row)
        pending = retry
    order = {job.task.id: k for k, job in enumerate(jobs)}
    outcome.rows.sort(key=lambda r: order[r["id"]])
    outcome.drops.sort(key=lambda r: order[r["id"]])
    return outcome


def student_messages(question: str) -> list[dict[str, str]]:
    """What the student sees, in training and at inference (`data/prompts/dart_student/`)."""
    return load_template("dart_student").messages(question=question)


def sft_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A kept target as an SFT row: the student prompt, the teacher's answer as the assistant turn."""
    out = {
        "id": row["id"],
        "messages": [
            *student_messages(str(row["question"])),
            {"role": "assistant", "content": row["target"]},
        ],
    }
    if "weight" in row:
        out["weight"] = row["weight"]
    return out


# ---- stage reporting (distill and repair) -----------------------------------------------------------


def teacher_dry_run(part: str, jobs: list[TeacherJob], role: Role, teacher: DictConfig, run: Run) -> None:
    """First-round teacher calls, prompt tokens of the real prompts, completions at the whole budget
    and the expected cost (format-fix rounds come on top, at most `format_fix_rounds` times); sends nothing."""
    from demalign.judging.budget import estimate_tokens
    from demalign.llm.litellm_backend import expected_cost
    from demalign.reports import markdown_table

    prompt_tokens = sum(estimate_tokens(m["content"]) for job in jobs for m in first_messages(job))
    budget = int(teacher.get("max_output_tokens") or 0)
    completion_tokens = budget * len(jobs)
    cost = expected_cost(role.price_model, prompt_tokens, completion_tokens) if role.price_model else 0.0
    rows = [{"part": part, "calls": len(jobs), "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "max_format_fix_calls": len(jobs) * int(teacher.format_fix_rounds), "expected_cost_usd": cost}]  # fmt: skip
    note = (f"{len(jobs)} first-round teacher calls; prompt tokens at 4 characters per token, completions at their "
            f"whole budget ({budget}); cost is litellm's bundled price (None = unknown, 0 = offline template).")  # fmt: skip
    table = markdown_table(rows)
    print(f"{part}.dry_run: nothing sent.\n{note}\n{table}")
    run.metrics.update(dry_run=True, estimate=rows)
    run.section(f"{part.capitalize()} dry run", f"{note}\n\n{table}")


def teacher_sections(
    part: str, outcome: TeacherOutcome, asked: int, role: Role, teacher: DictConfig, run: Run
) -> None:
    from demalign.llm.execute import usage_rows, usage_section, usage_summary
    from demalign.reports import markdown_table

    drops = outcome.drop_counts()
    usage = usage_summary(outcome.results)
    rounds = {
        r: sum(row["rounds"] == r for row in outcome.rows)
        for r in range(1, int(teacher.format_fix_rounds) + 2)
    }
    run.metrics.update(asked=asked, kept=len(outcome.rows), dropped=len(outcome.drops), drops=drops,
                       kept_by_round=rounds, usage=usage)  # fmt: skip
    table = markdown_table([{"reason": k, "dropped": v} for k, v in drops.items()])
    run.section(
        part.capitalize(),
        f"Teacher `{role.identity.name}` ({teacher.backend}) wrote targets for {asked} tasks; kept {len(outcome.rows)} "
        f"whose conclusion parses and equals the gold label (kept after round 1, 2, ...: {list(rounds.values())}; "
        f"up to {teacher.format_fix_rounds} format-fix re-asks). Drops by reason:\n\n{table}",
    )
    run.section("Tokens and cost", usage_section([{"part": part, **usage}]))
    run.write_jsonl("usage.jsonl", usage_rows(part, outcome.calls, outcome.results))


def task_of(row: Mapping[str, Any]) -> TaskRow:
    """The task fields of a row that carries them (a pool or target row)."""
    return TaskRow(
        str(row["id"]), str(row["question"]), str(row["label"]), str(row["benchmark"]), str(row["condition"])
    )
