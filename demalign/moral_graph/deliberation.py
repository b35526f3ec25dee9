"""A simulated deliberation: participants drawn from a sortition panel of PRISM users articulate a
values card through a model, vote on a draw of peers' cards, and vote upgrade / no_upgrade /
not_sure on transitions between cards in a context. The result is raw votes in the schema
`graph.load_votes` reads, so aggregation, ranking and everything after run on them unchanged.

Each participant's persona is their PRISM survey answers and, when present, the opening prompts of
their own PRISM conversations. Every model call goes through the call cache (so a rerun repeats
nothing) and every draw is seeded: the same seed gives the same votes.

Offline the model is `SimulatedParticipant`, a scripted backend: a participant's cards and votes are a
deterministic function of their persona, the seed and the bundled graph's value cards (its
archetypes), with a leaning by religiosity so the graph has something to disagree about.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from demalign.errors import ConfigError, DataError
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallPolicy, CallResult, ChatCall, Identity
from demalign.llm.execute import execute
from demalign.llm.roles import Role
from demalign.llm.scripted import ScriptedBackend
from demalign.llm.templates import load_template
from demalign.moral_graph.graph import RELATIONSHIPS, ValueCard, parse_value

SIMULATOR_VERSION = 1
# The simulated participants' base wisdom of each bundled archetype (value id) and their leanings.
BASE_WISDOM = {"1": 0.0, "7": 0.2, "2": 0.5, "8": 0.6, "5": 0.7, "6": 0.9, "3": 1.0, "4": 1.1}
LEANING = {"religious": {"1": 0.7, "4": 0.4}, "secular": {"2": 0.4, "3": 0.3}}
RELIGIOUS = ("Christian", "Muslim", "Jewish", "Hindu", "Sikh", "Buddhist", "Folk religion")


@dataclass(frozen=True)
class Persona:
    user_id: str
    profile: dict[str, str]  # survey column -> answer
    openings: tuple[str, ...] = ()  # opening prompts of the user's own PRISM conversations

    def text(self) -> str:
        lines = [f"- {column}: {answer}" for column, answer in self.profile.items()]
        if self.openings:
            lines.append("- things they have asked an AI assistant before:")
            lines += [f"  * {opening}" for opening in self.openings]
        return "\n".join(lines)


def personas(
    survey: pd.DataFrame, utterances: pd.DataFrame | None, user_ids: Sequence[str], columns: Sequence[str],
    max_conversations: int,
) -> list[Persona]:  # fmt: skip
    """Personas of `user_ids` (sorted): the survey `columns` they answered, and up to
    `max_conversations` opening prompts of their conversations (first turn, in conversation order)."""
    missing = [c for c in columns if c not in survey.columns]
    if missing:
        raise ConfigError(f"deliberate.persona_columns: {missing} are not survey columns")
    openings: dict[str, list[str]] = {}
    if utterances is not None and max_conversations > 0:
        first = utterances[utterances["turn"] == 0].drop_duplicates("conversation_id")
        for user, prompt in zip(first["user_id"], first["user_prompt"], strict=True):
            openings.setdefault(str(user), []).append(str(prompt))
    out = []
    for user in sorted(user_ids):
        row = survey.loc[user]
        profile = {c: str(row[c]) for c in columns if isinstance(row[c], str) and row[c].strip()}
        out.append(Persona(user, profile, tuple(openings.get(user, [])[:max_conversations])))
    return out


# ---- strict answer parsing (a real model's answer and the scripted one go through the same code) ----


def _json_object(text: str | None) -> dict | None:
    if text is None:
        return None
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def parse_card(text: str | None) -> dict | None:
    """A values card {title, instructionsShort, instructionsDetailed?, evaluationCriteria[2..6]}, or None."""
    parsed = _json_object(text)
    if parsed is None:
        return None
    try:
        card = parse_value({**parsed, "id": "new"}, "card")
    except DataError:  # a malformed card is an invalid answer: re-asked
        return None
    if not 2 <= len(card.evaluation_criteria) <= 6:
        return None
    return card.as_export()


def parse_wise(text: str | None, n_cards: int) -> list[int] | None:
    """{"wise": [card numbers 1..n]} -> the numbers, or None."""
    parsed = _json_object(text)
    if parsed is None or set(parsed) != {"wise"} or not isinstance(parsed["wise"], list):
        return None
    picks = parsed["wise"]
    if not all(type(p) is int and 1 <= p <= n_cards for p in picks) or len(set(picks)) != len(picks):
        return None
    return sorted(picks)


def parse_relationship(text: str | None) -> str | None:
    parsed = _json_object(text)
    if parsed is None or set(parsed) != {"relationship"} or parsed["relationship"] not in RELATIONSHIPS:
        return None
    return str(parsed["relationship"])


# ---- the offline participant ---------------------------------------------------------------------


def _unit(*parts: Any) -> float:
    """A uniform number in [0, 1) from its parts (stable across runs and machines)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimulatedParticipant:
    """The scripted model's reply: reads the call's payload (task, persona, cards) and its seed.

    Each archetype (a bundled value card) has a base wisdom; religious participants add weight to
    "Clear Rules" and "Working It Out Together", the others to self-direction and understanding;
    each participant adds their own seeded noise. A participant writes the card of an archetype
    drawn in proportion to exp(2·score), finds wise the cards at or above their median score,
    and calls B an upgrade of A when score(B) - score(A) (plus noise) exceeds 0.15."""

    def __init__(self, archetypes: Mapping[str, ValueCard]) -> None:
        self.archetypes = dict(archetypes)
        self.by_title = {card.title.lower(): card.id for card in archetypes.values()}

    def scores(self, persona: Mapping[str, Any], seed: int) -> dict[str, float]:
        leaning = "religious" if persona["profile"].get("religion.categorised") in RELIGIOUS else "secular"
        return {
            a: BASE_WISDOM.get(a, 0.5) + LEANING[leaning].get(a, 0.0) + 0.6 * (_unit(seed, persona["user_id"], a) - 0.5)
            for a in self.archetypes
        }  # fmt: skip

    def __call__(self, call: ChatCall) -> str:
        payload, seed = call.payload, call.settings.get("seed", 0)
        scores = self.scores(payload["persona"], seed)
        if payload["task"] == "articulate":
            ids = sorted(scores)
            weights = np.array([math.exp(2 * scores[a]) for a in ids])
            pick = int(
                np.searchsorted(
                    np.cumsum(weights / weights.sum()), _unit(seed, payload["persona"]["user_id"], "card")
                )
            )
            card = self.archetypes[ids[min(pick, len(ids) - 1)]].as_export()
            card.pop("id")
            return json.dumps(card)
        if payload["task"] == "vote_cards":
            median = float(np.median(list(scores.values())))
            wise = [i for i, title in enumerate(payload["cards"], start=1)
                    if scores.get(self.by_title.get(title.lower(), ""), -1.0) >= median]  # fmt: skip
            return json.dumps({"wise": wise})
        a, b = (self.by_title.get(t.lower()) for t in (payload["from_title"], payload["to_title"]))
        if a is None or b is None:
            return json.dumps({"relationship": "not_sure"})
        gap = (
            scores[b]
            - scores[a]
            + 0.4 * (_unit(seed, payload["persona"]["user_id"], a, b, payload["context"]) - 0.5)
        )
        relationship = "upgrade" if gap > 0.15 else "no_upgrade" if gap < -0.15 else "not_sure"
        return json.dumps({"relationship": relationship})


def simulated_role(archetypes: Mapping[str, ValueCard], seed: int, invalid_retries: int) -> Role:
    identity = Identity("scripted-participant", {"seed": seed, "version": SIMULATOR_VERSION})
    participant = SimulatedParticipant(archetypes)
    return Role(identity, CallPolicy(batch_size=256, invalid_retries=invalid_retries),
                lambda: ScriptedBackend(participant))  # fmt: skip


# ---- the deliberation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliberationSettings:
    question: str
    contexts: tuple[str, ...]
    draw_size: int = 6  # peers' cards shown to each participant (DFT shows 6)
    transitions_per_participant: int = 10  # upgrade questions per participant (distinct ordered pairs)
    seed: int = 0


@dataclass
class Deliberation:
    cards: dict[str, ValueCard]  # canonical cards (identical titles merged), ids "1", "2", ...
    authors: dict[str, list[str]]  # card id -> participants who articulated it
    card_votes: list[dict[str, Any]]  # {userId, valuesCardId, drawId, voted}: impressions and votes
    votes: list[dict[str, Any]]  # raw upgrade votes in the file schema
    failures: list[dict[str, Any]]  # {userId, task, error}: answers that never parsed (left out)
    calls: list[ChatCall] = field(default_factory=list)
    results: list[CallResult] = field(default_factory=list)


def _user_rng(seed: int, user: str, step: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha256(f"{user}|{step}".encode()).hexdigest()[:8], 16)])


def _card_text(card: ValueCard) -> str:
    return f"{card.title}: {card.instructions_short} Attends to: " + "; ".join(card.evaluation_criteria)


def _run(
    calls: list[ChatCall], role: Role, cache: CallCache, accept: Callable[[str], bool], desc: str, out: Deliberation
) -> list[CallResult]:  # fmt: skip
    results = execute(calls, lambda: role.backend, cache, role.policy, accept, desc=desc)
    out.calls += calls
    out.results += results
    return results


def deliberate(
    people: Sequence[Persona], settings: DeliberationSettings, role: Role, cache: CallCache
) -> Deliberation:
    """Articulate -> vote on cards -> vote on transitions (see the module docstring)."""
    out = Deliberation({}, {}, [], [], [])
    persona_payload = {p.user_id: {"user_id": p.user_id, "profile": p.profile} for p in people}

    template = load_template("mg_articulate")
    calls = [role.identity.call(template.messages(persona=p.text(), question=settings.question),
                                payload={"task": "articulate", "persona": persona_payload[p.user_id]}) for p in people]  # fmt: skip
    results = _run(calls, role, cache, lambda t: parse_card(t) is not None, "articulate", out)
    by_title: dict[str, str] = {}
    own: dict[str, str] = {}
    for person, result in zip(people, results, strict=True):
        card = parse_card(result.text)
        if card is None:
            out.failures.append(
                {"userId": person.user_id, "task": "articulate", "error": result.error or "unparseable"}
            )
            continue
        key = card["title"].strip().lower()
        if key not in by_title:
            by_title[key] = str(len(by_title) + 1)
            out.cards[by_title[key]] = parse_value({**card, "id": by_title[key]}, "card")
        out.authors.setdefault(by_title[key], []).append(person.user_id)
        own[person.user_id] = by_title[key]

    template = load_template("mg_vote_cards")
    draws: list[tuple[Persona, list[str]]] = []
    for person in people:
        others = [c for c in out.cards if c != own.get(person.user_id)]
        if others:
            rng = _user_rng(settings.seed, person.user_id, "draw")
            draws.append(
                (
                    person,
                    sorted(
                        rng.choice(others, size=min(settings.draw_size, len(others)), replace=False).tolist(),
                        key=int,
                    ),
                )
            )
    calls = [
        role.identity.call(
            template.messages(persona=p.text(), question=settings.question,
                              cards="\n".join(f"{i}. {_card_text(out.cards[c])}" for i, c in enumerate(drawn, start=1))),
            payload={"task": "vote_cards", "persona": persona_payload[p.user_id], "cards": [out.cards[c].title for c in drawn]},
        )
        for p, drawn in draws
    ]  # fmt: skip
    results = _run(
        calls, role, cache, lambda t: parse_wise(t, settings.draw_size) is not None, "vote on cards", out
    )
    for (person, drawn), result in zip(draws, results, strict=True):
        wise = parse_wise(result.text, len(drawn))
        if wise is None:
            out.failures.append(
                {"userId": person.user_id, "task": "vote_cards", "error": result.error or "unparseable"}
            )
            continue
        out.card_votes += [{"userId": person.user_id, "valuesCardId": c, "drawId": f"{person.user_id}-draw",
                            "voted": i in wise} for i, c in enumerate(drawn, start=1)]  # fmt: skip

    template = load_template("mg_vote_upgrade")
    pairs = [(a, b) for a in out.cards for b in out.cards if a != b]
    asked: list[tuple[Persona, str, str, str]] = []
    for person in people:
        if not pairs:
            break
        rng = _user_rng(settings.seed, person.user_id, "transitions")
        for index in rng.choice(
            len(pairs), size=min(settings.transitions_per_participant, len(pairs)), replace=False
        ):
            a, b = pairs[int(index)]
            asked.append((person, a, b, settings.contexts[int(rng.integers(len(settings.contexts)))]))
    calls = [
        role.identity.call(
            template.messages(persona=p.text(), question=settings.question, context=context,
                              from_card=_card_text(out.cards[a]), to_card=_card_text(out.cards[b])),
            payload={"task": "vote_upgrade", "persona": persona_payload[p.user_id], "context": context,
                     "from_title": out.cards[a].title, "to_title": out.cards[b].title},
        )
        for p, a, b, context in asked
    ]  # fmt: skip
    results = _run(calls, role, cache, lambda t: parse_relationship(t) is not None, "vote on upgrades", out)
    for (person, a, b, context), result in zip(asked, results, strict=True):
        relationship = parse_relationship(result.text)
        if relationship is None:
            out.failures.append(
                {"userId": person.user_id, "task": "vote_upgrade", "error": result.error or "unparseable"}
            )
            continue
        out.votes.append({"userId": person.user_id, "fromId": a, "toId": b, "contextId": context,
                          "relationship": relationship})  # fmt: skip
    return out
