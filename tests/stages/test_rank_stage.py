"""stage=rank end to end on synthetic judgements: every artifact, the metrics, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import write_jsonl
from demalign.errors import ConfigError, DataError
from demalign.ranking.synthetic import listwise_rows, pairwise_rows
from demalign.run import run_configured

CONF = Path(__file__).resolve().parents[2] / "conf" / "rank" / "default.yaml"
THETA = np.array([0.0, 0.8, -0.5, 0.3])


def make_cfg(**overrides) -> DictConfig:
    paths = {"output_dir": "outputs", "cache_dir": ".cache"}
    cfg = OmegaConf.create(
        {"seed": 0, "stage": "rank", "resume": False, "paths": paths, "rank": OmegaConf.load(CONF)}
    )
    cfg.rank.bootstrap_samples = 50
    for key, value in overrides.items():
        cfg.rank[key] = value
    return cfg


@pytest.fixture
def inputs(tmp_path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    write_jsonl(
        tmp_path / "pairwise.jsonl", pairwise_rows(THETA, 30, 3, rng, tie_rate=0.1, invalid_rate=0.05)
    )
    write_jsonl(tmp_path / "listwise.jsonl", listwise_rows(THETA, 20, 2, rng))
    return {"pairwise": str(tmp_path / "pairwise.jsonl"), "listwise": str(tmp_path / "listwise.jsonl")}


def test_writes_every_artifact_and_the_leaderboard(tmp_path, inputs) -> None:
    run = run_configured(make_cfg(**inputs, style_control=True), tmp_path / "out")
    for name in (
        "bradley_terry_scores.json",
        "ranking_scores.json",
        "scores.png",
        "win_rates.png",
        "leaderboard.json",
    ):
        assert (run.dir / name).stat().st_size > 0
        assert name in run.outputs
    assert len(run.inputs) == 2
    report = (run.dir / "report.md").read_text()
    assert "## Leaderboard: bradley_terry" in report and "## All methods" in report

    records = json.loads((run.dir / "ranking_scores.json").read_text())
    methods = {(r["method"], r["source"]) for r in records}
    for method in ("bradley_terry", "plackett_luce", "borda", "copeland", "kemeny"):
        assert (method, "pairwise") in methods and (method, "listwise") in methods
    assert ("bradley_terry_style", "pairwise") in methods
    for record in records:
        assert set(record) >= {"method", "scores", "ci_low", "ci_high", "rank", "n_items"}
        assert record["n_items"] == 4 and set(record["scores"]) == {f"model_{k}" for k in range(4)}

    bradley_terry = json.loads((run.dir / "bradley_terry_scores.json").read_text())
    assert bradley_terry["scores"]["model_0"] == 1000.0 and bradley_terry["bootstrap_unit"] == "question"
    assert bradley_terry["n_invalid"] > 0 and "style_control" in bradley_terry

    leaderboard = run.metrics["leaderboard"]
    assert leaderboard[0]["model"] == "model_1"  # the strongest planted model
    assert all(row["ci_low"] <= row["score"] <= row["ci_high"] for row in leaderboard)
    report = (run.dir / "report.md").read_text()
    assert "## Leaderboard with style control" in report and "![scores.png](scores.png)" in report


def test_preferences_only_with_davidson_ties(tmp_path) -> None:
    write_jsonl(
        tmp_path / "preferences.jsonl",
        [
            {"model_i": "base", "model_j": "hard", "wins_i": 10, "wins_j": 14, "ties": 3, "invalid": 1},
            {"model_i": "base", "model_j": "soft", "wins_i": 12, "wins_j": 12, "ties": 2, "invalid": 0},
            {"model_i": "hard", "model_j": "soft", "wins_i": 15, "wins_j": 9, "ties": 1, "invalid": 0},
        ],
    )
    run = run_configured(
        make_cfg(preferences=str(tmp_path / "preferences.jsonl"), ties="davidson", anchor="soft"),
        tmp_path / "out",
    )
    record = json.loads((run.dir / "bradley_terry_scores.json").read_text())
    assert record["scores"]["soft"] == 1000.0 and record["davidson_nu"] > 0
    assert record["bootstrap_unit"] == "model-pair row"
    assert "resamples model-pair rows" in (run.dir / "report.md").read_text()


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({}, ConfigError, "needs rank.pairwise"),
        ({"methods": ["bradley_terry", "elo"]}, ConfigError, "unknown method"),
        ({"anchor": "nobody"}, ConfigError, "rank.anchor"),
        ({"ties": "thirds"}, ConfigError, "rank.ties"),
        ({"pairwise": "/nonexistent/pairwise.jsonl"}, DataError, "file not found"),
        ({"style_control": True}, ConfigError, "style_control needs rank.pairwise"),
    ],
)
def test_config_errors_name_the_key(tmp_path, inputs, overrides, error, message) -> None:
    if overrides.get("anchor") or overrides.get("ties"):
        overrides = {"pairwise": inputs["pairwise"], **overrides}
    if overrides.get("style_control"):
        overrides = {"preferences": inputs["pairwise"], **overrides}
    with pytest.raises(error, match=message):
        run_configured(make_cfg(**overrides), tmp_path / "out")


def test_same_seed_same_artifacts(tmp_path, inputs) -> None:
    """Two runs with one seed write byte-identical scores; another seed moves only the intervals."""
    texts = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        cfg = make_cfg(pairwise=inputs["pairwise"], seed=seed, methods=["bradley_terry", "kemeny"])
        run = run_configured(cfg, tmp_path / name)
        texts.append(json.loads((run.dir / "ranking_scores.json").read_text()))
    assert texts[0] == texts[1]
    assert texts[0][0]["scores"] == texts[2][0]["scores"] and texts[0][0]["ci_low"] != texts[2][0]["ci_low"]
