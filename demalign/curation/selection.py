"""From critiques to training data: pure functions, worked examples in tests/unit/test_selection.py.

`curate(rows, options)` runs, per prompt (prompts in order of first appearance):

1. **filters**, each drop counted by reason: `invalid` (the critic's answer never parsed: excluded,
   never scored), `self_contradiction` (scored safe, reason says unsafe: `contradiction.self_contradicts`),
   `duplicate` (the same text, whitespace aside, as an earlier candidate of the same prompt; the first
   is kept). De-duplication runs per prompt_id and BEFORE choosing: identical candidates cannot take
   both sides of a pair, and a prompt that a prompt set repeats on purpose (two prompt_ids, same text)
   keeps its rows: nothing after this step merges rows, so an intended oversampling is never undone;
2. **a policy** picks `chosen` and `rejected` candidates. Candidates are ranked by score; ties go to
   the candidate that comes first in the file (generation order) — for the best *and* for the worst:
   - `best`: chosen = the first highest score; rejected = the first lowest score when it is lower
     (all-equal scores: no rejected); the others are `not_selected`;
   - `margin`: needs two candidates (else `single_candidate`) and best − worst ≥ `margin` (else every
     candidate is `below_margin`); chosen = best, rejected = worst;
   - `diverse`: chosen = the `top_k` best; rejected = the `bottom_k` worst of the others;
3. **outputs**:
   - SFT rows: each chosen candidate with score ≥ `min_score` (else counted `below_min_score`);
   - DPO pairs: each (chosen, rejected) with chosen score ≥ `min_score` and a gap ≥ 1 (`margin` for the
     margin policy) — never two sides with the same text; `margin` column = the score gap;
   - KTO rows: every chosen and rejected candidate, `label` = its `safe` flag (score ≥ the critique's
     safe_threshold);
4. **split**: prompts (not rows, so one prompt's pair and its SFT row stay together) are shuffled with
   `seed`; `n_val = max(1, int(n · val_ratio))` of n prompts go to validation, but never all of them:
   with one prompt it goes to train (the seed's split left train empty), with `val_ratio` 0 none.

Row formats (`format`): `prompt_completion` (TRL conversational prompt-completion: `prompt` = [user
message], `completion` = [assistant message]; completion-only loss), `messages` (TRL conversational
language modelling: [user, assistant]) or `raw` (plain strings `prompt`, `completion`). DPO and KTO
rows are conversational for the first two and plain strings for `raw`. Every row also carries
`prompt_id`, the candidate ids, scores and `category` (TRL drops columns it does not use).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from demalign.curation.contradiction import self_contradicts
from demalign.errors import ConfigError

POLICIES = ("best", "margin", "diverse")
FORMATS = ("prompt_completion", "messages", "raw")
# Candidate-level drop reasons, in the order they are applied.
DROP_REASONS = (
    "invalid",
    "self_contradiction",
    "duplicate",
    "single_candidate",
    "below_margin",
    "not_selected",
)


@dataclass(frozen=True)
class SelectOptions:
    policy: str = "best"
    margin: int = 2
    top_k: int = 1
    bottom_k: int = 1
    min_score: int | None = 4
    format: str = "prompt_completion"
    val_ratio: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ConfigError(f"select.policy={self.policy!r}; choose one of {list(POLICIES)}")
        if self.format not in FORMATS:
            raise ConfigError(f"select.format={self.format!r}; choose one of {list(FORMATS)}")
        if self.margin < 1:
            raise ConfigError(f"select.margin={self.margin}: must be >= 1 (a pair needs a strict score gap)")
        if self.top_k < 1 or self.bottom_k < 0:
            raise ConfigError(
                f"select.top_k={self.top_k}, select.bottom_k={self.bottom_k}: need top_k >= 1, bottom_k >= 0"
            )
        if not 0.0 <= self.val_ratio < 1.0:
            raise ConfigError(f"select.val_ratio={self.val_ratio}: must be in [0, 1)")


@dataclass(frozen=True)
class Scored:
    """A candidate with a valid verdict; `position` = its line index in the critiques file."""

    position: int
    prompt_id: str
    prompt: str
    candidate_id: str
    candidate: str
    category: str | None
    score: int
    reason: str
    safe: bool

    @classmethod
    def from_row(cls, position: int, row: dict[str, Any]) -> Scored:
        return cls(position, str(row["prompt_id"]), row["prompt"], str(row["candidate_id"]), row["candidate"],
                   row.get("category"), int(row["score"]), row["reason"], bool(row["safe"]))  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """One prompt's selection."""

    prompt_id: str
    chosen: tuple[Scored, ...]
    rejected: tuple[Scored, ...]


@dataclass
class Curated:
    """Everything `curate` decided: the choices, every dropped candidate with its reason, the output
    rows (train/val), and counts of what each output step skipped."""

    choices: list[Choice]
    dropped: list[dict[str, Any]]
    sft: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    dpo: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    kto: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)
    val_prompts: frozenset[str] = frozenset()

    def dropped_counts(self) -> dict[str, int]:
        counts = Counter(row["dropped"] for row in self.dropped)
        return {reason: counts.get(reason, 0) for reason in DROP_REASONS}


def _drop(row: dict[str, Any] | Scored, reason: str) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else lambda key: getattr(row, key)
    return {"prompt_id": str(get("prompt_id")), "candidate_id": str(get("candidate_id")), "score": get("score"),
            "reason": get("reason"), "dropped": reason}  # fmt: skip


def normalized(text: str) -> str:
    """The text compared for de-duplication: whitespace runs collapsed, ends stripped."""
    return " ".join(text.split())


def usable_candidates(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, list[Scored]], list[dict[str, Any]]]:
    """Valid, self-consistent, de-duplicated candidates grouped by prompt_id (prompts in order of first
    appearance, candidates in file order), and the drops (`invalid`, `self_contradiction`, `duplicate`)."""
    groups: dict[str, list[Scored]] = {}
    dropped: list[dict[str, Any]] = []
    for position, row in enumerate(rows):
        groups.setdefault(str(row["prompt_id"]), [])
        if not row["valid"]:
            dropped.append(_drop(row, "invalid"))
        elif self_contradicts(row["safe"], row["reason"]):
            dropped.append(_drop(row, "self_contradiction"))
        else:
            groups[str(row["prompt_id"])].append(Scored.from_row(position, row))
    for prompt_id, group in groups.items():
        kept, seen = [], set()
        for cand in group:
            key = normalized(cand.candidate)
            if key in seen:
                dropped.append(_drop(cand, "duplicate"))
            else:
                seen.add(key)
                kept.append(cand)
        groups[prompt_id] = kept
    return groups, dropped


def best_first(group: Sequence[Scored]) -> list[Scored]:
    """Highest score first; equal scores in file order."""
    return sorted(group, key=lambda c: (-c.score, c.position))


def worst_first(group: Sequence[Scored]) -> list[Scored]:
    """Lowest score first; equal scores in file order."""
    return sorted(group, key=lambda c: (c.score, c.position))


def choose(group: Sequence[Scored], options: SelectOptions) -> tuple[Choice | None, list[dict[str, Any]]]:
    """One prompt's choice under `options.policy` (module docstring) and the candidates it leaves out."""
    if not group:
        return None, []
    prompt_id = group[0].prompt_id
    if options.policy == "diverse":
        ranked = best_first(group)
        chosen = ranked[: options.top_k]
        rejected = worst_first(ranked[options.top_k :])[: options.bottom_k]
    else:
        best, worst = best_first(group)[0], worst_first(group)[0]
        if options.policy == "margin":
            if len(group) < 2:
                return None, [_drop(c, "single_candidate") for c in group]
            if best.score - worst.score < options.margin:
                return None, [_drop(c, "below_margin") for c in group]
        chosen = [best]
        rejected = [worst] if worst.score < best.score else []
    picked = {c.position for c in (*chosen, *rejected)}
    left_out = [_drop(c, "not_selected") for c in group if c.position not in picked]
    return Choice(prompt_id, tuple(chosen), tuple(rejected)), left_out


def _user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft_row(cand: Scored, fmt: str) -> dict[str, Any]:
    if fmt == "messages":
        body: dict[str, Any] = {"messages": _user(cand.prompt) + _assistant(cand.candidate)}
    elif fmt == "prompt_completion":
        body = {"prompt": _user(cand.prompt), "completion": _assistant(cand.candidate)}
    else:
        body = {"prompt": cand.prompt, "completion": cand.candidate}
    return {**body, "prompt_id": cand.prompt_id, "candidate_id": cand.candidate_id, "score": cand.score,
            "category": cand.category}  # fmt: skip


def dpo_row(chosen: Scored, rejected: Scored, fmt: str) -> dict[str, Any]:
    chat = fmt != "raw"
    return {
        "prompt": _user(chosen.prompt) if chat else chosen.prompt,
        "chosen": _assistant(chosen.candidate) if chat else chosen.candidate,
        "rejected": _assistant(rejected.candidate) if chat else rejected.candidate,
        "margin": chosen.score - rejected.score,
        "prompt_id": chosen.prompt_id, "chosen_id": chosen.candidate_id, "rejected_id": rejected.candidate_id,
        "chosen_score": chosen.score, "rejected_score": rejected.score, "category": chosen.category,
    }  # fmt: skip


def kto_row(cand: Scored, fmt: str) -> dict[str, Any]:
    chat = fmt != "raw"
    return {
        "prompt": _user(cand.prompt) if chat else cand.prompt,
        "completion": _assistant(cand.candidate) if chat else cand.candidate,
        "label": cand.safe,
        "prompt_id": cand.prompt_id, "candidate_id": cand.candidate_id, "score": cand.score,
        "category": cand.category,
    }  # fmt: skip


def sft_rows(
    choices: Sequence[Choice], options: SelectOptions
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    rows, skipped = [], Counter()
    for choice in choices:
        for cand in choice.chosen:
            if options.min_score is not None and cand.score < options.min_score:
                skipped["below_min_score"] += 1
            else:
                rows.append(sft_row(cand, options.format))
    return rows, dict(skipped)


def dpo_pairs(
    choices: Sequence[Choice], options: SelectOptions
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(chosen, rejected) pairs: chosen score ≥ min_score, gap ≥ 1 (≥ margin under the margin policy),
    never the same text on both sides (`equal_scores`, `below_margin`, `chosen_below_min_score`,
    `same_text` count the rest)."""
    min_gap = options.margin if options.policy == "margin" else 1
    rows, skipped = [], Counter()
    for choice in choices:
        for chosen in choice.chosen:
            for rejected in choice.rejected:
                gap = chosen.score - rejected.score
                if normalized(chosen.candidate) == normalized(rejected.candidate):
                    skipped["same_text"] += 1
                elif gap <= 0:
                    skipped["equal_scores" if gap == 0 else "rejected_scores_higher"] += 1
                elif gap < min_gap:
                    skipped["below_margin"] += 1
                elif options.min_score is not None and chosen.score < options.min_score:
                    skipped["chosen_below_min_score"] += 1
                else:
                    rows.append(dpo_row(chosen, rejected, options.format))
    return rows, dict(skipped)


def kto_rows(choices: Sequence[Choice], options: SelectOptions) -> list[dict[str, Any]]:
    return [kto_row(c, options.format) for choice in choices for c in (*choice.chosen, *choice.rejected)]


def validation_prompts(prompt_ids: Sequence[str], val_ratio: float, seed: int) -> frozenset[str]:
    """The prompts held out for validation: `prompt_ids` (distinct, in a fixed order) shuffled with
    `seed`, the first n_val of them, n_val = max(1, int(n·val_ratio)) capped at n − 1 (0 when
    val_ratio is 0). E.g. 10 prompts, 0.2 -> 2; 3 prompts, 0.2 -> 1; 1 prompt -> 0 (it trains)."""
    n = len(prompt_ids)
    n_val = 0 if val_ratio <= 0 or n < 2 else min(n - 1, max(1, int(n * val_ratio)))
    order = list(prompt_ids)
    random.Random(seed).shuffle(order)
    return frozenset(order[:n_val])


def split_rows(
    rows: Sequence[dict[str, Any]], val_prompts: frozenset[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val) by the row's prompt_id, each in the rows' order."""
    return (
        [r for r in rows if r["prompt_id"] not in val_prompts],
        [r for r in rows if r["prompt_id"] in val_prompts],
    )


def curate(rows: Sequence[dict[str, Any]], options: SelectOptions) -> Curated:
    """Critique rows (as in critiques.jsonl, file order) -> choices, drops, SFT/DPO/KTO train and val."""
    groups, dropped = usable_candidates(rows)
    choices = []
    for group in groups.values():
        choice, left_out = choose(group, options)
        dropped += left_out
        if choice is not None:
            choices.append(choice)
    sft, sft_skipped = sft_rows(choices, options)
    dpo, dpo_skipped = dpo_pairs(choices, options)
    kto = kto_rows(choices, options)
    val = validation_prompts([c.prompt_id for c in choices], options.val_ratio, options.seed)
    order = {(str(r["prompt_id"]), str(r["candidate_id"])): n for n, r in enumerate(rows)}
    dropped.sort(key=lambda d: order[(d["prompt_id"], d["candidate_id"])])
    return Curated(choices, dropped, split_rows(sft, val), split_rows(dpo, val), split_rows(kto, val),
                   {"sft": sft_skipped, "dpo": dpo_skipped}, val)  # fmt: skip
