"""The pipeline's hand-over between stages, and collect over a sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from omegaconf import open_dict

from demalign.artifacts import read_jsonl
from demalign.pipelines import handover, inline_report, modes_to_run, produced
from demalign.run import run_configured
from demalign.sweeps import collect_jobs, evaluate_models


def test_modes_come_from_the_list_unless_the_command_line_names_one(make_cfg) -> None:
    cfg = make_cfg("pipeline.dataset_modes=[hard,full]")
    assert modes_to_run(cfg, []) == ["hard", "full"]
    assert modes_to_run(make_cfg("dataset_mode=soft"), ["dataset_mode=soft"]) == ["soft"]
    assert modes_to_run(make_cfg("pipeline.dataset_modes=null", "dataset_mode=us_rep"), []) == ["us_rep"]


def test_handover_points_each_stage_at_the_previous_artifacts(make_cfg, tmp_path: Path) -> None:
    artifacts: dict = {"checkpoints": {}}
    artifacts |= produced("prepare", "soft", tmp_path / "soft" / "prepare", artifacts)
    artifacts |= produced("train", "soft", tmp_path / "soft" / "train", artifacts)
    artifacts |= produced("questions", None, tmp_path / "questions", artifacts)
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "pairwise.jsonl").write_text("")
    artifacts |= produced("evaluate", None, tmp_path / "evaluate", artifacts)
    cfg = make_cfg()
    with open_dict(cfg):
        handover(cfg, "train", "soft", artifacts)
        handover(cfg, "evaluate", None, artifacts)
        handover(cfg, "rank", None, artifacts)
    assert cfg.train.dataset == str(tmp_path / "soft" / "prepare" / "dataset.jsonl")
    assert cfg.evaluate.questions_dir == str(tmp_path / "questions" / "questions")
    assert [m["name"] for m in cfg.evaluate.models] == ["base", "soft"]
    assert cfg.evaluate.models[1]["path"] == str(tmp_path / "soft" / "train" / "checkpoint")
    assert cfg.rank.pairwise == str(tmp_path / "evaluate" / "pairwise.jsonl") and cfg.rank.listwise is None


def test_inline_report_demotes_headings_and_rewrites_links() -> None:
    sub = "# demalign `rank` run\n\n- status: ok\n\n## Scores\n\n![scores.png](scores.png) [x](https://a.b)\n"
    assert inline_report(sub, "rank") == "### Scores\n\n![scores.png](rank/scores.png) [x](https://a.b)\n"


def test_pipeline_of_prepare_runs_every_mode_in_one_folder(make_cfg, tmp_path: Path) -> None:
    cfg = make_cfg("stage=pipeline", "pipeline.stages=[prepare]", "pipeline.dataset_modes=[us_rep,full]")
    run = run_configured(cfg, tmp_path / "run")
    us_rep = read_jsonl(run.dir / "us_rep" / "prepare" / "dataset.jsonl")
    full = read_jsonl(run.dir / "full" / "prepare" / "dataset.jsonl")
    assert 0 < len(us_rep) < len(full)
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert {"us_rep/prepare/dataset.jsonl", "full/prepare/dataset.jsonl"} <= set(manifest["outputs"])
    assert manifest["metrics"]["prepare (full)"]["pairs"] == len(full)
    assert "## prepare (us_rep)" in (run.dir / "report.md").read_text()


def test_collect_gathers_a_two_job_sweep(make_cfg, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "demalign.run", "-m", "stage=prepare", "dataset_mode=full,us_rep",
         "dataset.pairs=chosen_vs_worst", f"paths.output_dir={tmp_path / 'outputs'}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (sweep,) = (tmp_path / "outputs" / "prepare" / "multirun").iterdir()
    fake = sweep / "1_dataset.pairs=chosen_vs_worst,dataset_mode=us_rep" / "checkpoint"
    fake.mkdir()
    (fake / "config.json").write_text("{}")  # a job that trained leaves a loadable checkpoint folder

    jobs = collect_jobs(sweep)
    assert jobs["override:dataset_mode"].tolist() == ["full", "us_rep"]
    assert jobs["status"].tolist() == ["ok", "ok"]
    assert jobs["pairs"].iloc[0] > jobs["pairs"].iloc[1] > 0
    assert evaluate_models(jobs) == [
        {"name": "base", "kind": "local", "path": None},
        {"name": "us_rep", "kind": "local", "path": str(fake)},
    ]
    failed = jobs.assign(status=["ok", "failed"])
    assert evaluate_models(failed) == [{"name": "base", "kind": "local", "path": None}]
    run = run_configured(make_cfg("stage=collect", f"collect.sweep_dir={sweep}"), tmp_path / "collect")
    csv = (run.dir / "sweep.csv").read_text().splitlines()
    assert len(csv) == 3 and "override:dataset_mode" in csv[0]
    assert json.loads((run.dir / "evaluate_models.json").read_text())[1]["path"] == str(fake)


def test_default_pipeline_hands_artifacts_from_prepare_to_rank(make_cfg, tmp_path: Path) -> None:
    """The embedded default's stage list, shrunk: two modes, 24 pairs each, 6 questions."""
    cfg = make_cfg(
        "pipeline.dataset_modes=[hard,full]", "pipeline.max_pairs_per_mode=24", "model.tiny.warmup_steps=0",
        "evaluate.max_questions=6", "evaluate.num_judges=1", "evaluate.max_new_tokens=8", "evaluate.mode=both",
        "rank.bootstrap_samples=20", "+trainer.max_steps=2", "train.eval_ratio=0",
    )  # fmt: skip
    run = run_configured(cfg, tmp_path / "run")
    evaluate_manifest = json.loads((run.dir / "evaluate" / "manifest.json").read_text())
    assert [m["name"] for m in evaluate_manifest["config"]["evaluate"]["models"]] == ["base", "hard", "full"]
    assert evaluate_manifest["config"]["evaluate"]["models"][1]["path"] == str(
        run.dir / "hard" / "train" / "checkpoint"
    )
    assert len(read_jsonl(run.dir / "full" / "prepare" / "dataset.jsonl")) == 24
    train_manifest = json.loads((run.dir / "full" / "train" / "manifest.json").read_text())
    assert train_manifest["config"]["train"]["dataset"] == str(run.dir / "full" / "prepare" / "dataset.jsonl")
    rank_manifest = json.loads((run.dir / "rank" / "manifest.json").read_text())
    assert rank_manifest["config"]["rank"]["pairwise"] == str(run.dir / "evaluate" / "pairwise.jsonl")
    assert {row["model"] for row in rank_manifest["metrics"]["leaderboard"]} == {"base", "hard", "full"}
    report = (run.dir / "report.md").read_text()
    assert report.index("## Leaderboard") < report.index("## Stages, in order")
    assert "](rank/scores.png)" in report and "](hard/train/" in report
