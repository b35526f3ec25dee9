"""recipe=moral_graph hands each step the files of the one before (the full chain runs in
test_panel_dpo.py's every-recipe test); the step list is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.errors import ConfigError
from demalign.recipes.moral_graph import NEEDS, STEPS
from demalign.recipes.steps import checked_steps
from demalign.run import run_configured


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_moral_graph_hands_over_the_constitution_and_the_winners(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("recipe=moral_graph", "recipe.stages=[moral_graph,value_pairs,questions]", "moral_graph=bundled_votes",
                   "model.tiny.warmup_steps=0", "value_pairs.prompts_per_context=1", "value_pairs.max_new_tokens=6",
                   "value_pairs.do_sample=true", "questions.n_questions=2")  # fmt: skip
    run = run_configured(cfg, tmp_path / "run")
    graph = run.dir / "moral_graph"
    assert manifest(run.dir / "value_pairs")["stage_inputs"]["winners"] == str(graph / "winners.json")
    assert manifest(run.dir / "questions")["stage_inputs"]["constitution"] == str(graph / "constitution.yaml")
    clauses = sorted((run.dir / "questions" / "questions").glob("clause_*.json"))
    records = [json.loads(p.read_text()) for p in clauses]
    # the panel-weighted winner of the parent-child context is "Working It Out Together" (value 4)
    assert records[0]["clause"].startswith(
        "When a parent and child disagree, the assistant should help the people"
    )
    assert "NEEDS of each person involved" in records[0]["clause"] and len(records) == 3
    assert manifest(graph)["metrics"]["winner_changes"] == 1
    rows = read_jsonl(run.dir / "value_pairs" / "dataset.jsonl")
    assert {row["value_id"] for row in rows} == {"3", "4", "6"}
    assert all(
        row["prompt"][-1]["role"] == "user" and "follow this value" not in json.dumps(row["prompt"])
        for row in rows
    )


def test_moral_graph_steps_need_their_inputs() -> None:
    assert checked_steps(["moral_graph", "questions"], STEPS, NEEDS) == ["moral_graph", "questions"]
    with pytest.raises(ConfigError, match="train needs value_pairs"):
        checked_steps(["moral_graph", "train"], STEPS, NEEDS)
    with pytest.raises(ConfigError, match=r"unknown step\(s\) \[.simulate.\]"):
        checked_steps(["simulate"], STEPS, NEEDS)


def test_a_simulated_deliberation_feeds_the_moral_graph(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "recipe=moral_graph", "recipe.stages=[deliberate,moral_graph]", "moral_graph.mode=corrected"
    )
    run = run_configured(cfg, tmp_path / "run")
    simulated = run.dir / "deliberate"
    inputs = manifest(run.dir / "moral_graph")["stage_inputs"]
    assert inputs["export"] == str(simulated / "values.json") and inputs["votes"] == str(
        simulated / "votes.jsonl"
    )
    assert inputs["demographics"] == str(simulated / "demographics.csv")
    deliberation = manifest(simulated)["metrics"]
    assert deliberation["participants"] == 20 and deliberation["upgrade_votes"] == 200
    metrics = manifest(run.dir / "moral_graph")["metrics"]
    assert metrics["kept_edges"] > 0 and len(metrics["winners"]) == 2  # both contexts have a winner
