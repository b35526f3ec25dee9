"""Pairwise and listwise judgement: which calls to make, and how verdicts become rows.

Pairwise: every model pair (i < j in `evaluate.models` order) on every question is judged by each of
`num_judges` judges in *both* presentation orders ("ij": model_i shown as A; "ji": model_j shown as
A). Verdicts are stored relative to model_i/model_j, so the two orders can be compared (flip rate)
and pooled. Listwise: each judge sees all responses in its own shuffled order (seeded by the
evaluation seed, the question id and the judge index) and returns a full ranking.

An answer that does not parse after its retries, or a call that failed, is a judgement with verdict
`invalid` and its raw text: counted, never turned into a win, loss or tie.

Call counts (Q questions, M models, J judges):
    responses = Q * M;  pairwise = Q * M(M-1)/2 * 2 * J;  listwise = Q * J
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from demalign.errors import ConfigError, DataError
from demalign.judging.calls import CallResult, ChatCall
from demalign.judging.prompts import LABELS, TIE, judge_messages, parse_pairwise, parse_ranking

ORDERS = ("ij", "ji")
MODEL_KINDS = ("local", "litellm")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Item:
    """One question to evaluate, with its clause."""

    question_id: str
    clause_id: int
    clause: str
    question: str


@dataclass(frozen=True)
class ModelSpec:
    """One entry of `evaluate.models`: a local checkpoint (`path`; None = the `model` group's base
    model) or an API model (`model`, a litellm id, optionally served at `base_url`)."""

    name: str
    kind: str
    path: str | None = None
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None


def model_entries(models: Sequence[Any], models_file: str | Path | None) -> tuple[list[Any], str]:
    """The `evaluate.models` entries and where they came from (for error messages): the JSON list in
    `models_file` when it is set (stage=collect writes one: base model + checkpoints), else `models`."""
    if models_file is None:
        return list(models), "evaluate.models"
    path = Path(models_file)
    if models:
        raise ConfigError(
            f"evaluate.models and evaluate.models_file={path} are both set; keep one (models_file=null to "
            "use evaluate.models, or evaluate.models=[] to use the file)"
        )
    if not path.is_file():
        raise ConfigError(
            f"evaluate.models_file={path}: no such file; run stage=collect (it writes evaluate_models.json) "
            "or list the models in evaluate.models"
        )
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise DataError(
            f'{path}: expected a JSON list of model entries like [{{"name": "base", "kind": "local", "path": null}}, '
            "...] (the evaluate.models format)"
        )
    return entries, str(path)


def parse_model_specs(entries: Iterable[Any], source: str = "evaluate.models") -> list[ModelSpec]:
    """Validated model specs; errors name `source` (the config key or the models file) and the entry."""
    specs: list[ModelSpec] = []
    for index, entry in enumerate(entries):
        where = f"{source}[{index}]"
        entry = dict(entry)
        unknown = set(entry) - {"name", "kind", "path", "model", "base_url", "api_key_env"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
        name, kind = entry.get("name"), entry.get("kind")
        if not isinstance(name, str) or not _SAFE_NAME.match(name):
            raise ConfigError(f"{where}.name={name!r}: give a short name of letters, digits, '_', '-', '.'")
        if kind is None:  # never guessed: a forgotten kind would evaluate the base model under this name
            raise ConfigError(
                f"{where}.kind is missing; set kind: local (a checkpoint) or kind: litellm (an API model)"
            )
        if kind not in MODEL_KINDS:
            raise ConfigError(f"{where}.kind={kind!r}; choose one of {list(MODEL_KINDS)}")
        if kind == "litellm" and not entry.get("model"):
            raise ConfigError(f"{where}.model: a litellm model id is required for kind=litellm")
        if kind == "local" and entry.get("path") and not Path(entry["path"]).exists():
            raise ConfigError(f"{where}.path={entry['path']}: no such checkpoint folder")
        specs.append(ModelSpec(**{**entry, "kind": kind}))
    names = [spec.name for spec in specs]
    if len(specs) < 2:
        raise ConfigError(f"{source}: need at least two models to compare, got {names}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: names must be unique, got {names}")
    return specs


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


def response_messages(item: Item, system_prompt: str | None) -> list[dict[str, str]]:
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, {"role": "user", "content": item.question}]


def call_counts(n_questions: int, n_models: int, num_judges: int, mode: str) -> dict[str, int]:
    """E.g. 10 questions, 3 models, 2 judges: responses 30, pairwise 10*3*2*2 = 120, listwise 20."""
    counts = {"responses": n_questions * n_models}
    if mode in ("pairwise", "both"):
        counts["pairwise"] = n_questions * math.comb(n_models, 2) * len(ORDERS) * num_judges
    if mode in ("listwise", "both"):
        counts["listwise"] = n_questions * num_judges
    return counts


@dataclass(frozen=True)
class JudgeIdentity:
    """Who judges: the cache-key name of the judge and the settings that change its answers."""

    name: str
    settings: dict[str, Any]


def judge_call(
    judge: JudgeIdentity, kind: str, item: Item, candidates: Sequence[str], sample: int
) -> ChatCall:
    return ChatCall(
        model=judge.name,
        messages=judge_messages(kind, item.clause, item.question, candidates),
        settings=judge.settings,
        sample=sample,
        payload={
            "kind": kind,
            "question": item.question,
            "candidates": list(candidates),
        },
    )


def pairwise_calls(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    judge: JudgeIdentity,
) -> list[ChatCall]:  # fmt: skip
    """Calls in row order: item, pair (i<j), judge k, order ij then ji. `responses[model][question_id]`."""
    calls = []
    for item in items:
        for model_i, model_j in combinations(models, 2):
            for k in range(num_judges):
                for order in ORDERS:
                    first, second = (model_i, model_j) if order == "ij" else (model_j, model_i)
                    pair = [responses[first][item.question_id], responses[second][item.question_id]]
                    calls.append(judge_call(judge, "pairwise", item, pair, k))
    return calls


def _verdict(result: CallResult, order: str) -> str:
    parsed = parse_pairwise(result.text) if result.text is not None else None
    if parsed is None:
        return "invalid"
    if parsed == TIE:
        return "tie"
    shown_first = parsed == LABELS[0]
    return "i" if shown_first == (order == "ij") else "j"


def majority(wins_i: int, wins_j: int, ties: int, model_i: str, model_j: str) -> str | None:
    """The model with more wins; "tie" when wins are equal and some judgement was valid; None when
    no judgement was valid. E.g. (3, 1, 2) -> model_i; (2, 2, 0) -> "tie"; (0, 0, 0) -> None."""
    if wins_i + wins_j + ties == 0:
        return None
    if wins_i == wins_j:
        return "tie"
    return model_i if wins_i > wins_j else model_j


def pairwise_rows(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    results: Sequence[CallResult],
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (question, pair); `results` in the order of `pairwise_calls`."""
    rows = []
    cursor = iter(results)
    for item in items:
        for model_i, model_j in combinations(models, 2):
            judgements = []
            for k in range(num_judges):
                for order in ORDERS:
                    result = next(cursor)
                    judgement = {
                        "judge": k,
                        "order": order,
                        "verdict": _verdict(result, order),
                        "raw": result.text or "",
                    }
                    if result.error:
                        judgement["error"] = result.error
                    judgements.append(judgement)
            verdicts = [j["verdict"] for j in judgements]
            wins_i, wins_j, ties = verdicts.count("i"), verdicts.count("j"), verdicts.count("tie")
            rows.append(
                {
                    "question_id": item.question_id,
                    "clause_id": item.clause_id,
                    "question": item.question,
                    "model_i": model_i,
                    "model_j": model_j,
                    "responses": {model_i: responses[model_i][item.question_id], model_j: responses[model_j][item.question_id]},
                    "judgements": judgements,
                    "wins_i": wins_i,
                    "wins_j": wins_j,
                    "ties": ties,
                    "invalid": verdicts.count("invalid"),
                    "majority_winner": majority(wins_i, wins_j, ties, model_i, model_j),
                    "judge_raw": [j["raw"] for j in judgements],
                }
            )  # fmt: skip
    if next(cursor, None) is not None:
        raise ValueError("more results than pairwise calls")
    return rows


def preferences(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Pairwise rows summed over questions: one row per model pair, in model order."""
    table = []
    for model_i, model_j in combinations(models, 2):
        mine = [r for r in rows if r["model_i"] == model_i and r["model_j"] == model_j]
        totals = {key: sum(r[key] for r in mine) for key in ("wins_i", "wins_j", "ties", "invalid")}
        winner = majority(totals["wins_i"], totals["wins_j"], totals["ties"], model_i, model_j)
        table.append({"model_i": model_i, "model_j": model_j, **totals, "majority_winner": winner})
    return table


def order_effects(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Position-bias diagnostics. A flip: judge k's valid verdicts in the two orders disagree (e.g.
    "i" when model_i is shown first, "j" when it is shown second). `first_shown_wins`: share of
    valid non-tie verdicts won by the response shown as A (0.5 = no position preference)."""
    compared = flips = decisive = first_wins = 0
    for row in rows:
        by_judge: dict[int, dict[str, str]] = {}
        for judgement in row["judgements"]:
            by_judge.setdefault(judgement["judge"], {})[judgement["order"]] = judgement["verdict"]
            if judgement["verdict"] in ("i", "j"):
                decisive += 1
                first_wins += (judgement["verdict"] == "i") == (judgement["order"] == "ij")
        for verdicts in by_judge.values():
            pair = [verdicts.get(order, "invalid") for order in ORDERS]
            if "invalid" not in pair:
                compared += 1
                flips += pair[0] != pair[1]
    return {
        "order_pairs_compared": compared,
        "order_flips": flips,
        "flip_rate": flips / compared if compared else None,
        "first_shown_wins": first_wins / decisive if decisive else None,
    }


def listwise_summary(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """Per model over all valid rankings: how often it ranked first and its mean rank (1 = best).
    E.g. rankings [[a, b], [b, a], [a, b]] -> a: first 2, mean rank 4/3; b: first 1, mean rank 5/3."""
    rankings = [ranking for row in rows for ranking in row["rankings"]]
    return [
        {
            "model": model,
            "rankings": len(rankings),
            "ranked_first": sum(ranking[0] == model for ranking in rankings),
            "mean_rank": round(sum(ranking.index(model) + 1 for ranking in rankings) / len(rankings), 3)
            if rankings
            else None,
        }
        for model in models
    ]


def presentation_order(models: Sequence[str], question_id: str, judge: int, seed: int) -> list[str]:
    """The shuffled order judge `judge` sees for a question; stable under subsampling of questions."""
    rng = np.random.default_rng([seed, zlib.crc32(question_id.encode()), judge])
    return [models[k] for k in rng.permutation(len(models))]


def listwise_calls(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    judge: JudgeIdentity, seed: int,
) -> list[ChatCall]:  # fmt: skip
    calls = []
    for item in items:
        for k in range(num_judges):
            shown = presentation_order(models, item.question_id, k, seed)
            calls.append(
                judge_call(judge, "listwise", item, [responses[m][item.question_id] for m in shown], k)
            )
    return calls


def listwise_rows(
    items: Sequence[Item], models: Sequence[str], responses: dict[str, dict[str, str]], num_judges: int,
    results: Sequence[CallResult], seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per question; `rankings` holds one best-to-worst model list per valid judgement."""
    rows = []
    cursor = iter(results)
    for item in items:
        judgements = []
        for k in range(num_judges):
            shown = presentation_order(models, item.question_id, k, seed)
            result = next(cursor)
            labels = parse_ranking(result.text, len(shown)) if result.text is not None else None
            ranking = [shown[LABELS.index(label)] for label in labels] if labels else None
            judgement = {"judge": k, "order": shown, "ranking": ranking, "raw": result.text or ""}
            if result.error:
                judgement["error"] = result.error
            judgements.append(judgement)
        rows.append(
            {
                "question_id": item.question_id,
                "clause_id": item.clause_id,
                "question": item.question,
                "models": list(models),
                "responses": {m: responses[m][item.question_id] for m in models},
                "judgements": judgements,
                "rankings": [j["ranking"] for j in judgements if j["ranking"] is not None],
                "invalid": sum(j["ranking"] is None for j in judgements),
                "judge_raw": [j["raw"] for j in judgements],
            }
        )
    if next(cursor, None) is not None:
        raise ValueError("more results than listwise calls")
    return rows


def estimate_tokens(text: str) -> int:
    """Rough token count for dry runs: 4 characters per token (English prose with BPE tokenizers)."""
    return max(1, math.ceil(len(text) / 4))


def expected_tokens(
    items: Sequence[Item], n_models: int, num_judges: int, mode: str, system_prompt: str | None,
    response_tokens: int, judge_output_tokens: int,
) -> dict[str, dict[str, int]]:  # fmt: skip
    """Upper-bound token counts per part for a dry run, assuming every completion uses its whole
    budget: {part: {calls, prompt_tokens, completion_tokens}} for responses, pairwise, listwise."""
    counts = call_counts(len(items), n_models, num_judges, mode)
    filler = "x" * (4 * response_tokens)  # a full-length response, for sizing judge prompts
    question_prompts = sum(
        estimate_tokens(m["content"]) for item in items for m in response_messages(item, system_prompt)
    )
    estimate = {
        "responses": {
            "calls": counts["responses"],
            "prompt_tokens": n_models * question_prompts,
            "completion_tokens": counts["responses"] * response_tokens,
        }
    }
    for part, n_candidates in (("pairwise", 2), ("listwise", n_models)):
        if part not in counts:
            continue
        per_question = [
            sum(
                estimate_tokens(m["content"])
                for m in judge_messages(part, item.clause, item.question, [filler] * n_candidates)
            )
            for item in items
        ]
        calls_per_question = counts[part] // max(1, len(items))
        estimate[part] = {
            "calls": counts[part],
            "prompt_tokens": calls_per_question * sum(per_question),
            "completion_tokens": counts[part] * judge_output_tokens,
        }
    return estimate
