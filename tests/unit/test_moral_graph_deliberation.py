"""The simulated deliberation: strict parsing of participants' answers, same seed -> same votes,
a rerun asks nothing, and the votes form a graph the ranking accepts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from demalign.llm.cache import CallCache
from demalign.moral_graph.aggregate import Thresholds
from demalign.moral_graph.analysis import analyse_votes
from demalign.moral_graph.deliberation import (
    DeliberationSettings,
    Persona,
    deliberate,
    parse_card,
    parse_relationship,
    parse_wise,
    personas,
    simulated_role,
)
from demalign.moral_graph.graph import bundled_dir, load_export
from demalign.moral_graph.ranking import RankSettings
from demalign.moral_graph.synthetic import C1, C2, vote_frame
from demalign.prism.loading import load_prism, sample_root

ARCHETYPES = load_export(bundled_dir() / "graph.json").values
SETTINGS = DeliberationSettings("How should an assistant answer a parent?", (C1, C2), draw_size=4,
                                transitions_per_participant=8, seed=3)  # fmt: skip


@pytest.fixture(scope="module")
def people() -> list[Persona]:
    prism = load_prism(sample_root())
    users = sorted(prism.survey.index)[:16]
    return personas(prism.survey, prism.utterances, users, ["age", "gender", "religion.categorised"], 2)


def test_personas_carry_survey_answers_and_own_conversations(people: list[Persona]) -> None:
    first = people[0]
    assert set(first.profile) == {"age", "gender", "religion.categorised"}
    assert 1 <= len(first.openings) <= 2 and first.openings[0] in first.text()


def test_answers_are_parsed_strictly() -> None:
    card = {"title": "T", "instructionsShort": "ChatGPT should x.", "evaluationCriteria": ["A", "B"]}
    assert parse_card(json.dumps(card))["title"] == "T"
    assert parse_card(json.dumps({**card, "evaluationCriteria": ["A"]})) is None  # fewer than 2 criteria
    assert parse_card(json.dumps({"title": "T"})) is None and parse_card("Title: T") is None
    assert parse_wise('{"wise": [2, 1]}', 3) == [1, 2]
    assert parse_wise('{"wise": [4]}', 3) is None and parse_wise('{"wise": [1, 1]}', 3) is None
    assert parse_relationship('```json\n{"relationship": "upgrade"}\n```') == "upgrade"
    assert parse_relationship('{"relationship": "wiser"}') is None


def test_same_seed_same_votes_and_a_rerun_asks_nothing(people: list[Persona], tmp_path) -> None:
    first = deliberate(
        people, SETTINGS, simulated_role(ARCHETYPES, SETTINGS.seed, 2), CallCache(tmp_path / "a.jsonl")
    )
    fresh = deliberate(
        people, SETTINGS, simulated_role(ARCHETYPES, SETTINGS.seed, 2), CallCache(tmp_path / "b.jsonl")
    )
    assert first.votes == fresh.votes and first.card_votes == fresh.card_votes and len(first.votes) == 16 * 8
    role = simulated_role(ARCHETYPES, SETTINGS.seed, 2)
    again = deliberate(people, SETTINGS, role, CallCache(tmp_path / "a.jsonl"))
    assert again.votes == first.votes and role._backend is None  # every answer came from the cache
    other = deliberate(people, DeliberationSettings(**{**SETTINGS.__dict__, "seed": 4}),
                       simulated_role(ARCHETYPES, 4, 2), CallCache(tmp_path / "c.jsonl"))  # fmt: skip
    assert other.votes != first.votes


def test_simulated_votes_form_a_graph_the_ranking_accepts(people: list[Persona], tmp_path) -> None:
    result = deliberate(people, SETTINGS, simulated_role(ARCHETYPES, SETTINGS.seed, 2), CallCache(None))
    assert not result.failures and 3 <= len(result.cards) <= 8
    pairs = [(v["userId"], v["fromId"], v["toId"]) for v in result.votes]
    assert len(set(pairs)) == len(pairs)  # one vote per participant and ordered pair, as DFT's key
    graph = analyse_votes(result.cards, vote_frame(result.votes), "corrected", Thresholds(), RankSettings())
    assert len(graph.kept) > 0 and {w["context"] for w in graph.winners} == {C1, C2}
    assert all(w["value_id"] in result.cards for w in graph.winners)
    assert set(pd.Series([v["userId"] for v in result.votes])) == {p.user_id for p in people}
