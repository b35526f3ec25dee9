"""Offline unit tests of demalign.constitution: constitutions, the question bank, question parsing
and the evaluation items read back from question files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demalign.constitution.clauses import bank_questions, load_constitution, select_clauses
from demalign.constitution.questions import Item, parse_questions, select_items
from demalign.errors import ConfigError, DataError


def test_parse_questions_dedupes_and_requires_enough() -> None:
    """Five entries: one near-duplicate (case and '?'), one too short -> 3 distinct questions."""
    text = '```json\n{"questions": ["Is lying ever OK?", "is lying ever ok", "Why?", "How do I cite a book?", "What is fair pay?"]}\n```'
    assert parse_questions(text, 3, min_chars=10) == [
        "Is lying ever OK?",
        "How do I cite a book?",
        "What is fair pay?",
    ]
    assert parse_questions(text, 4, min_chars=10) is None
    assert parse_questions('{"questions": "not a list"}', 1, 10) is None
    assert parse_questions("no json", 1, 10) is None


@settings(max_examples=30)
@given(st.integers(1, 6), st.integers(1, 40), st.integers(0, 1000))
def test_select_items_is_a_seeded_subset(per_clause: int, max_questions: int, seed: int) -> None:
    items = [Item(f"c{c:02d}_q{q:02d}", c, "x", f"q{c}{q}") for c in range(1, 6) for q in range(5)]
    chosen = select_items(items, per_clause, max_questions, seed)
    assert chosen == select_items(items, per_clause, max_questions, seed)
    assert len(chosen) == min(max_questions, 5 * min(per_clause, 5))
    assert [items.index(i) for i in chosen] == sorted(items.index(i) for i in chosen)


# ---------------------------------------------------------------- constitution


def test_default_constitution_has_a_bank() -> None:
    source, clauses = load_constitution(None)
    assert 20 <= len(clauses) <= 40
    assert [c.id for c in clauses] == list(range(1, len(clauses) + 1))
    for clause in clauses:
        assert len(set(clause.questions)) >= 5, clause.id
        assert bank_questions(clause, 5, source) == list(clause.questions[:5])
    with pytest.raises(ConfigError, match=r"questions\.n_questions=99"):
        bank_questions(clauses[0], 99, source)


def test_text_constitution_and_clause_range(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# my constitution\n1. Be kind.\n2) Be honest\n   even when it is hard.\n3. Be brief.\n")
    _, clauses = load_constitution(path)
    assert [(c.id, c.text) for c in clauses] == [
        (1, "Be kind."),
        (2, "Be honest even when it is hard."),
        (3, "Be brief."),
    ]
    assert [c.id for c in select_clauses(clauses, 2, None)] == [2, 3]
    with pytest.raises(ConfigError, match="start_clause=5"):
        select_clauses(clauses, 5, 9)
    (tmp_path / "bad.txt").write_text("Be kind.\n")
    with pytest.raises(DataError, match=r"bad.txt:1"):
        load_constitution(tmp_path / "bad.txt")
