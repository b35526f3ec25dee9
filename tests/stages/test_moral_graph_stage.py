"""stage=moral_graph on the bundled graph: from the export's counts, from raw votes with panel
weighting and bridging, on a user's export without prompts; config errors name their key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.errors import ConfigError, DataError
from demalign.moral_graph.graph import bundled_dir, load_export
from demalign.run import run_configured


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_stage_on_the_bundled_export_writes_graph_constitution_and_report(make_cfg, tmp_path: Path) -> None:
    run = run_configured(make_cfg("stage=moral_graph"), tmp_path / "run")
    metrics = manifest(run.dir)["metrics"]
    assert metrics["kept_edges"] == 9 and metrics["cycles"] == 1 and metrics["sinks"] == 1
    assert metrics["rank_sum"] == pytest.approx(0.76599085, abs=1e-8)  # DFT's leak, reported
    again = load_export(run.dir / "graph.json")  # the recomputed export reads back in DFT's schema
    assert len(again.edges) == 9 and {v.id for v in again.values.values()} == {str(i) for i in range(1, 9)}
    assert len(read_jsonl(run.dir / "edges.jsonl")) == 12
    report = (run.dir / "report.md").read_text()
    for title in ("Graph", "Winners per context", "Wisest values", "Cycles and sinks"):
        assert f"## {title}\n" in report
    assert (run.dir / "graph.png").stat().st_size > 10_000
    assert "3 -> 4 -> 3" in report


def test_stage_from_raw_votes_weights_by_panel_and_reports_bridging(make_cfg, tmp_path: Path) -> None:
    run = run_configured(make_cfg("stage=moral_graph", "moral_graph=bundled_votes"), tmp_path / "run")
    metrics = manifest(run.dir)["metrics"]
    assert metrics["winner_changes"] == 1 and metrics["weighting"] == "soft"
    assert metrics["bridging_values"][0] == "3"  # 50 Democrat and 14 Republican upgrades into it
    report = (run.dir / "report.md").read_text()
    assert "## Democratic weighting\n" in report and "## Bridging values\n" in report
    winners = json.loads((run.dir / "winners.json").read_text())
    assert {w["context"]: w["value_id"] for w in winners["winners"]}[
        "When a parent and child disagree"
    ] == "4"


def test_a_users_export_without_prompts_gives_clauses_without_questions(make_cfg, tmp_path: Path) -> None:
    document = json.loads((bundled_dir() / "graph.json").read_text())
    del document["allEdges"]
    export = tmp_path / "edges.json"
    export.write_text(json.dumps(document))
    run = run_configured(make_cfg("stage=moral_graph", f"moral_graph.path={export}", "moral_graph.plot=false"),
                         tmp_path / "run")  # fmt: skip
    metrics = manifest(run.dir)["metrics"]
    assert metrics["clauses_without_questions"] == [1, 2, 3] and metrics["candidate_edges"] == 9


def test_weighting_without_votes_names_the_key(make_cfg, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"moral_graph\.weighting\.how=soft needs raw votes"):
        run_configured(make_cfg("stage=moral_graph", "moral_graph.weighting.how=soft"), tmp_path / "run")


def test_weighting_panel_errors_name_the_moral_graph_key(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "stage=moral_graph", "moral_graph=bundled_votes", "moral_graph.weighting.panel.attributes=[]"
    )
    with pytest.raises(
        ConfigError, match=r"moral_graph\.weighting\.panel\.attributes must be a non-empty list"
    ):
        run_configured(cfg, tmp_path / "run")


def test_thresholds_are_config_keys_with_dfts_defaults(make_cfg, tmp_path: Path) -> None:
    """Known DFT pain point: the magic numbers 2, 0.33, 1.69 are hard-coded. Here they are keys."""
    cfg = make_cfg("stage=moral_graph", "moral_graph.thresholds.min_marked_wiser=3", "moral_graph.plot=false")
    defaults = make_cfg().moral_graph.thresholds
    assert (defaults.min_marked_wiser, defaults.min_wiser_likelihood, defaults.max_entropy) == (2, 0.33, 1.69)
    run = run_configured(cfg, tmp_path / "run")
    assert manifest(run.dir)["metrics"]["kept_edges"] == 8  # 8 -> 3 has markedWiser exactly 2


def test_no_edge_passing_the_thresholds_is_an_error_naming_them(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg(
        "stage=moral_graph", "moral_graph.thresholds.min_marked_wiser=100", "moral_graph.plot=false"
    )
    with pytest.raises(DataError, match=r"no edge of .* passes the thresholds \(markedWiser >= 100"):
        run_configured(cfg, tmp_path / "run")
