"""stage=explore and stage=prepare end to end: artifacts, manifest, determinism, errors, sweeps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.errors import ArtifactExistsError, DataError
from demalign.run import run_configured

PAIR_FIELDS = {"prompt", "chosen", "rejected", "user_id", "interaction_id", "weight"}


def test_explore_writes_counts_for_dotted_columns(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("stage=explore", "explore.columns=[gender,ethnicity.categorised]")
    run = run_configured(cfg, tmp_path / "run")
    csv = (run.dir / "categories.csv").read_text()
    assert csv.splitlines()[0] == "column,category,count,share"
    assert "ethnicity.categorised,White," in csv
    assert "| gender | Male |" in (run.dir / "categories.md").read_text()


def test_prepare_full_writes_dataset_manifest_and_report(make_cfg, tmp_path: Path, small_prism: Path) -> None:
    cfg = make_cfg("stage=prepare", "data=prism", f"data.root={small_prism}", "dataset_mode=full")
    run = run_configured(cfg, tmp_path / "run", ["data=prism", "dataset_mode=full"])
    rows = read_jsonl(run.dir / "dataset.jsonl")
    assert rows and all(set(r) == PAIR_FIELDS and r["weight"] == 1.0 for r in rows)
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["stage"] == "prepare"
    assert manifest["metrics"]["pairs"] == len(rows)
    assert manifest["overrides"] == ["data=prism", "dataset_mode=full"]
    assert str(small_prism / "utterances.jsonl") in manifest["inputs"]
    assert set(manifest["outputs"]) == {"dataset.jsonl"}
    assert manifest["versions"]["trl"] and manifest["config"]["dataset_mode"]["name"] == "full"
    report = (run.dir / "report.md").read_text()
    assert "preference pairs written" in report and "dropped: single response" in report


def test_hard_keeps_panel_members_and_soft_weights_by_probability(make_cfg, tmp_path: Path) -> None:
    hard = run_configured(make_cfg("stage=prepare", "dataset_mode=hard"), tmp_path / "hard").dir
    panel = json.loads((hard / "panel.json").read_text())
    assert len(panel["selected"]) == panel["panel_size"] == 20
    rows = read_jsonl(hard / "dataset.jsonl")
    assert (
        rows
        and {r["user_id"] for r in rows} <= set(panel["selected"])
        and {r["weight"] for r in rows} == {1.0}
    )

    soft = run_configured(make_cfg("stage=prepare", "dataset_mode=soft"), tmp_path / "soft").dir
    soft_panel = json.loads((soft / "panel.json").read_text())
    probabilities = soft_panel["probabilities"]
    assert abs(sum(probabilities.values()) - 20) < 1e-6
    for certificate in (
        panel["certificate"],
        soft_panel["certificate"],
    ):  # the LEXIMIN lottery proves exactness
        assert certificate["certified"] is True and certificate["marginal_error"] <= 1e-6
    assert "LEXIMIN **certified exact**" in (soft / "report.md").read_text()
    rows = read_jsonl(soft / "dataset.jsonl")
    assert all(r["weight"] == probabilities[r["user_id"]] > 0 for r in rows)
    report = (soft / "panel_report.csv").read_text().splitlines()
    assert report[0] == "attribute,category,target_share,min,max,pool_count,expected_count"


def test_us_rep_keeps_only_flagged_users(make_cfg, tmp_path: Path, small_prism: Path) -> None:
    from demalign.prism.loading import load_prism

    flagged = set(load_prism(small_prism).survey.query("included_in_US_REP").index)
    cfg = make_cfg("stage=prepare", "data=prism", f"data.root={small_prism}", "dataset_mode=us_rep")
    rows = read_jsonl(run_configured(cfg, tmp_path / "run").dir / "dataset.jsonl")
    assert rows and {r["user_id"] for r in rows} <= flagged


def test_same_config_and_seed_give_byte_identical_output(make_cfg, tmp_path: Path) -> None:
    args = ("stage=prepare", "dataset.context=history", "dataset.max_pairs=300", "seed=3")
    first = run_configured(make_cfg(*args), tmp_path / "a").dir / "dataset.jsonl"
    second = run_configured(make_cfg(*args), tmp_path / "b").dir / "dataset.jsonl"
    assert len(read_jsonl(first)) == 300
    assert first.read_bytes() == second.read_bytes()
    other_seed = run_configured(make_cfg(*args[:-1], "seed=4"), tmp_path / "c").dir / "dataset.jsonl"
    assert other_seed.read_bytes() != first.read_bytes()


def test_finished_run_folder_is_not_overwritten(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("stage=prepare")
    run_configured(cfg, tmp_path / "run")
    with pytest.raises(ArtifactExistsError, match="finished run"):
        run_configured(cfg, tmp_path / "run")


def test_malformed_input_fails_with_manifest_and_no_dataset(
    make_cfg, tmp_path: Path, small_prism: Path
) -> None:
    root = shutil.copytree(small_prism, tmp_path / "p")
    with open(root / "utterances.jsonl", "a") as handle:
        handle.write('{"interaction_id": \n')
    lines = len((root / "utterances.jsonl").read_text().splitlines())
    cfg = make_cfg("stage=prepare", "data=prism", f"data.root={root}")
    with pytest.raises(DataError, match=rf"utterances.jsonl:{lines}"):
        run_configured(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "dataset.jsonl").exists()
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and f"utterances.jsonl:{lines}" in manifest["error"]
    # a failed folder is not "finished": a rerun after fixing the input may use it
    shutil.copy(small_prism / "utterances.jsonl", root / "utterances.jsonl")
    assert (run_configured(cfg, tmp_path / "run").dir / "dataset.jsonl").exists()


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "demalign.run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=180,
    )


def test_cli_error_is_one_line_without_traceback(tmp_path: Path, small_prism: Path) -> None:
    root = shutil.copytree(small_prism, tmp_path / "p")
    with open(root / "utterances.jsonl", "r+") as handle:
        text = handle.read()
        handle.seek(0)
        handle.write("{oops\n" + text)
    done = _cli(
        "stage=prepare", "data=prism", f"data.root={root}", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path
    )
    assert done.returncode != 0
    assert f"{root / 'utterances.jsonl'}:1: malformed JSON" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "dataset.jsonl").exists()


def test_cli_unknown_stage_lists_valid_ones(tmp_path: Path) -> None:
    done = _cli("stage=bogus", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert done.returncode != 0
    assert "stage='bogus' is not a stage. Valid stages: explore, prepare, train" in done.stderr


def test_cli_multirun_writes_one_folder_per_mode_and_no_secret(tmp_path: Path) -> None:
    secret = "sk-test-THIS-MUST-NOT-LEAK-12345"
    done = _cli(
        "-m", "stage=prepare", "dataset_mode=hard,soft,us_rep,full", f"paths.output_dir={tmp_path / 'outputs'}",
        cwd=tmp_path, env={"OPENAI_API_KEY": secret},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    jobs = sorted((tmp_path / "outputs" / "prepare" / "multirun").glob("*/*/dataset.jsonl"))
    modes = ["hard", "soft", "us_rep", "full"]
    assert [p.parent.name for p in jobs] == [f"{i}_dataset_mode={m}" for i, m in enumerate(modes)]
    assert len({p.read_bytes() for p in jobs}) == 4
    assert {"panel.json", "panel_report.csv", "panel_report.png"} <= {
        p.name for p in jobs[0].parent.iterdir()
    }
    for path in (tmp_path / "outputs").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="ignore"), path
