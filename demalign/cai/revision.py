"""SL-CAI critique → revision chains, and the SFT rows and DPO pairs made from them.

Per red-team prompt, one growing chat (the public Hugging Face recipe's layout, extended to rounds):

    [system?] [few-shot chats?] user: prompt → assistant: initial answer
    round 1: user: critique request (principle p1) → assistant: critique
             user: revision request (p1)          → assistant: revision 1
    round 2: user: critique request (p2) → critique → user: revision request (p2) → revision 2
    ...

so round k critiques and revises the previous round's revision (the last assistant turn). The
principle of each round is drawn per prompt from a generator seeded by (seed, prompt id), so a
prompt gets the same principles whatever else is in the run:

- `random`: independently each round (repeats possible; Anthropic's SL samples);
- `without_replacement`: distinct principles across the rounds of a prompt (needs rounds <= pairs);
- `fixed`: the pair `fixed_principle` every round.

`skip_if_no_critique`: when the critique says nothing needs changing (it contains one of
`no_critique_phrases`, case, spacing and punctuation aside), that round asks for no revision; the
round is recorded as skipped and its critique is not added to the chat, so the next round critiques
the same answer. Every round is recorded. A chain whose call failed (after the call layer's
retries) is kept with its error and counted `failed`; a rerun re-asks only what is missing.

Drops (each counted and listed, in this order): `failed`; `no_revision` (every round skipped);
`empty` (the final revision has no text); `unchanged` (equal to the initial answer after
`normalise_answer`); with the critic check, `critic_invalid` (a verdict did not parse) and
`critic_worse` (the critic scored the revision below the initial answer).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from demalign.constitution.principles import PrincipleSet
from demalign.errors import ConfigError
from demalign.llm.calls import CallResult, ChatCall, Identity

SAMPLING = ("random", "without_replacement", "fixed")
MAX_ROUNDS = 4
DROP_REASONS = ("failed", "no_revision", "empty", "unchanged", "critic_invalid", "critic_worse")


@dataclass(frozen=True)
class ReviseOptions:
    rounds: int = 1
    sampling: str = "random"
    fixed_principle: int = 0
    seed: int = 0
    few_shot: bool = True
    system_prompt: str | None = None
    skip_if_no_critique: bool = True
    no_critique_phrases: tuple[str, ...] = ()

    def check(self, principles: PrincipleSet) -> None:
        """ConfigErrors naming the `revise.<key>` that cannot work with these principles."""
        pairs = len(principles.pairs)
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise ConfigError(f"revise.rounds={self.rounds}: choose 1..{MAX_ROUNDS}")
        if self.sampling not in SAMPLING:
            raise ConfigError(f"revise.principle_sampling={self.sampling!r}; choose one of {list(SAMPLING)}")
        if self.sampling == "without_replacement" and self.rounds > pairs:
            raise ConfigError(
                f"revise.rounds={self.rounds} with principle_sampling=without_replacement needs at least "
                f"{self.rounds} principle pairs; {principles.source} has {pairs}"
            )
        if self.sampling == "fixed" and not 0 <= self.fixed_principle < pairs:
            raise ConfigError(
                f"revise.fixed_principle={self.fixed_principle}: {principles.source} has pairs 0..{pairs - 1}"
            )


def plan_principles(prompt_id: str, n_pairs: int, options: ReviseOptions) -> list[int]:
    """The pair index of each round for one prompt. E.g. fixed_principle 3, rounds 2 -> [3, 3];
    without_replacement -> `rounds` distinct indices; the same (seed, prompt_id) -> the same list."""
    if options.sampling == "fixed":
        return [options.fixed_principle] * options.rounds
    # A string seed is hashed with sha512 by `random`, so it is the same in every process (not PYTHONHASHSEED).
    rng = random.Random(f"cai-principles:{options.seed}:{prompt_id}")
    if options.sampling == "without_replacement":
        return rng.sample(range(n_pairs), options.rounds)
    return [rng.randrange(n_pairs) for _ in range(options.rounds)]


def normalise_answer(text: str) -> str:
    """Words only, case-folded: "Sure -- here's  HOW." and "sure, here's how" are both "sure here s how"."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def says_no_change(critique: str, phrases: Sequence[str]) -> bool:
    """True when the critique contains one of `phrases` (both normalised): "No changes needed!" matches
    "no changes needed"; "Changes are needed" does not."""
    text = f" {normalise_answer(critique)} "
    return any(f" {normalise_answer(p)} " in text for p in phrases if normalise_answer(p))


@dataclass
class Round:
    round: int
    principle: int  # index of the pair in the principle file
    principle_name: str
    critique_request: str
    critique: str | None = None
    skipped: bool = False  # the critique said nothing needs changing: no revision asked
    revision_request: str | None = None
    revision: str | None = None
    error: str | None = None


@dataclass
class Chain:
    prompt_id: str
    prompt: str
    category: str | None
    plan: list[int]
    initial: str | None = None
    rounds: list[Round] = field(default_factory=list)
    chat: list[dict[str, str]] = field(default_factory=list)  # the growing chat, prefix included
    error: str | None = None  # the first failed call (`where: error`)

    @property
    def final(self) -> str | None:
        """The last revision asked for (None when every round was skipped or a call failed)."""
        revised = [r.revision for r in self.rounds if not r.skipped]
        return revised[-1] if revised else None

    def drop_reason(self) -> str | None:
        """Why this chain yields no training row (`DROP_REASONS`), or None when it is kept."""
        if self.error is not None:
            return "failed"
        final = self.final
        if final is None:
            return "no_revision"
        if not final.strip():
            return "empty"
        if self.initial is not None and normalise_answer(final) == normalise_answer(self.initial):
            return "unchanged"
        return None

    def record(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id, "prompt": self.prompt, "category": self.category,
            "principles": self.plan, "initial": self.initial, "final": self.final,
            "rounds": [r.__dict__ for r in self.rounds], "error": self.error,
        }  # fmt: skip


def _fail(result: CallResult, where: str) -> str | None:
    return None if result.text is not None else f"{where}: {result.error or 'no answer'}"


def run_chains(
    prompts: Sequence[tuple[str, str, str | None]],
    principles: PrincipleSet,
    options: ReviseOptions,
    identity: Identity,
    answer: Callable[[list[ChatCall], str], list[CallResult]],
) -> list[Chain]:
    """Run the critique → revision chains of `prompts` ((id, text, category) each). `answer(calls, step)`
    answers a list of calls in order (`llm.execute` through the cache); each step (initial answers, then
    per round the critiques and the revisions) is one list, so an API model gets them all concurrently."""
    options.check(principles)
    prefix = [{"role": "system", "content": options.system_prompt}] if options.system_prompt else []
    if options.few_shot:
        prefix += principles.few_shot_prefix()
    chains = [
        Chain(pid, text, category, plan_principles(pid, len(principles.pairs), options),
              chat=[*prefix, {"role": "user", "content": text}])
        for pid, text, category in prompts
    ]  # fmt: skip

    results = answer([identity.call(list(c.chat)) for c in chains], "initial answers")
    for chain, result in zip(chains, results, strict=True):
        chain.error = _fail(result, "initial answer")
        if result.text is not None:
            chain.initial = result.text
            chain.chat.append({"role": "assistant", "content": result.text})

    for number in range(1, options.rounds + 1):
        live = [c for c in chains if c.error is None]
        for chain in live:
            pair = principles.pairs[chain.plan[number - 1]]
            chain.rounds.append(Round(number, pair.index, pair.name, pair.critic))
        asks = [[*c.chat, {"role": "user", "content": c.rounds[-1].critique_request}] for c in live]
        results = answer([identity.call(messages) for messages in asks], f"round {number} critiques")
        revising: list[tuple[Chain, list[dict[str, str]]]] = []
        for chain, messages, result in zip(live, asks, results, strict=True):
            step = chain.rounds[-1]
            step.critique, step.error = result.text, _fail(result, f"round {number} critique")
            if result.text is None:
                chain.error = step.error
            elif options.skip_if_no_critique and says_no_change(result.text, options.no_critique_phrases):
                step.skipped = True
            else:
                pair = principles.pairs[step.principle]
                step.revision_request = pair.revision
                revising.append((chain, [*messages, {"role": "assistant", "content": result.text},
                                         {"role": "user", "content": pair.revision}]))  # fmt: skip
        results = answer([identity.call(m) for _, m in revising], f"round {number} revisions")
        for (chain, messages), result in zip(revising, results, strict=True):
            step = chain.rounds[-1]
            step.revision, step.error = result.text, _fail(result, f"round {number} revision")
            if result.text is None:
                chain.error = step.error
            else:
                chain.chat = [*messages, {"role": "assistant", "content": result.text}]
    return chains


# ---- data ---------------------------------------------------------------------------------------------


def split_prompts(prompt_ids: Sequence[str], sft_share: float, seed: int) -> tuple[set[str], set[str]]:
    """(SFT ids, preference ids): disjoint, round(sft_share * n) for SFT, chosen by a seeded hash of each id
    (so a prompt's side does not depend on which other prompts survived). sft_share 0.5 = the public
    recipe's halves; 1 = all SFT; 0 = all preference pairs."""
    if not 0 <= sft_share <= 1:
        raise ConfigError(f"revise.sft_share={sft_share} must be in [0, 1]")
    ordered = sorted(set(prompt_ids), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    cut = round(sft_share * len(ordered))
    return set(ordered[:cut]), set(ordered[cut:])


def sft_row(chain: Chain) -> dict[str, Any]:
    """The SFT row of a kept chain: the user prompt and the final revision (no critique turns)."""
    return {"messages": [{"role": "user", "content": chain.prompt}, {"role": "assistant", "content": chain.final}],
            "prompt_id": chain.prompt_id, "source": "cai"}  # fmt: skip


def dpo_row(chain: Chain) -> dict[str, Any]:
    """The preference pair of a kept chain: chosen = the final revision, rejected = the initial answer."""
    return {"prompt": [{"role": "user", "content": chain.prompt}],
            "chosen": [{"role": "assistant", "content": chain.final}],
            "rejected": [{"role": "assistant", "content": chain.initial}],
            "prompt_id": chain.prompt_id, "rounds": len(chain.rounds)}  # fmt: skip


def helpful_sample(rows: Sequence[dict[str, Any]], weight: float, seed: int) -> list[dict[str, Any]]:
    """The helpfulness rows mixed into the SFT set: a seeded sample of round(weight * n) rows, weight in
    (0, 1] (the alignment-handbook dataset mixer's meaning of a weight: the share of that set used)."""
    if not 0 < weight <= 1:
        raise ConfigError(f"revise.helpful_weight={weight} must be in (0, 1]")
    count = round(weight * len(rows))
    picked = sorted(random.Random(f"cai-helpful:{seed}").sample(range(len(rows)), count))
    return [{**rows[i], "source": "helpful"} for i in picked]


def critic_drops(
    reasons: dict[str, str | None], scores: dict[str, tuple[int | None, int | None]]
) -> dict[str, str | None]:
    """Apply the critic check to chains still kept: `scores[prompt_id]` = (initial, revision) critic scores.
    A revision scored below its initial answer is `critic_worse` (the public recipe trains on it as
    `chosen` anyway); a verdict that did not parse is `critic_invalid` (never read as a score). Equal
    scores keep the pair (no worse). E.g. (4, 3) -> critic_worse; (3, 3) -> kept; (None, 5) -> critic_invalid."""
    out = dict(reasons)
    for pid, (initial, final) in scores.items():
        if out.get(pid) is not None:
            continue
        if initial is None or final is None:
            out[pid] = "critic_invalid"
        elif final < initial:
            out[pid] = "critic_worse"
    return out


def drop_counts(reasons: Sequence[str | None]) -> dict[str, int]:
    counts = Counter(r for r in reasons if r is not None)
    return {reason: counts.get(reason, 0) for reason in DROP_REASONS}
