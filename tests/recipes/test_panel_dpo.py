"""Recipes end to end on the sample, the panel_dpo hand-over between steps, resume, and collect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.errors import ArtifactExistsError, ConfigError
from demalign.recipes import RECIPE_NAMES
from demalign.recipes.context import nest_section
from demalign.recipes.panel_dpo import NEEDS, STEPS, dataset_modes
from demalign.recipes.steps import checked_steps
from demalign.run import run_configured
from demalign.sweeps import collect_jobs, evaluate_models
from tests.unit.test_training_weighted import CACHE

REPO = Path(__file__).resolve().parents[2]
SHRUNK = {  # every recipe's quick settings: tiny model, few pairs, questions and steps
    "panel_dpo": [
        "recipe.dataset_modes=[hard,full]", "recipe.max_pairs_per_mode=24", "model.tiny.warmup_steps=0",
        "generate.max_questions=6", "evaluate.num_judges=1", "generate.max_new_tokens=8", "evaluate.mode=both",
        "rank.bootstrap_samples=20", "+trainer.max_steps=2", "train.eval_ratio=0",
    ],
    "curate_sft": [
        "prompts.limit=4", "recipe.max_new_tokens=8", "generate.max_new_tokens=8", "model.tiny.warmup_steps=0",
        "select.min_score=null", "+trainer.max_steps=2", "sft.eval_ratio=0", "compare.n_resamples=200",
    ],
    "moral_graph": [  # random tiny weights answer greedily with nothing: sample so the two answers differ
        "model.tiny.warmup_steps=0", "value_pairs.prompts_per_context=2", "value_pairs.max_new_tokens=8",
        "value_pairs.do_sample=true", "questions.n_questions=2", "generate.max_new_tokens=8", "evaluate.num_judges=1",
        "rank.bootstrap_samples=20", "+trainer.max_steps=2", "train.eval_ratio=0",
    ],
    # a random tiny model answers greedily with nothing: cai needs the warmed-up one, built once in the shared
    # test cache; greedy tiny answers mostly repeat themselves: sample the revisions so some differ
    "cai": [
        f"paths.cache_dir={CACHE}",
        "classify.epochs=1", "helpful.limit=8", "helpful.max_new_tokens=8", "revise.limit=8",
        "revise.max_new_tokens=8", "revise.few_shot=false", "revise.do_sample=true", "revise.rounds=2",
        "cai_eval.limit=1", "cai_eval.max_new_tokens=6", "cai_eval.n_resamples=100",
        "recipe.sft_trainer.max_length=64", "trainer.max_length=64", "trainer.per_device_train_batch_size=4",
        "sft.eval_ratio=0", "train.eval_ratio=0",
    ],
    "dart": [  # the shared tiny model (tests/recipes/test_dart.py runs the repair rounds on the loopback server)
        f"paths.cache_dir={CACHE}", "trainer=sft_tiny", "+trainer.max_steps=1",
        "sft.eval_ratio=0", "dart_tasks.max_train=8", "dart_tasks.max_test=6", "audit.max_new_tokens=8",
        "audit.significance.n_resamples=100", "recipe.max_repair_rounds=0",
    ],
}  # fmt: skip


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_every_recipe_has_quick_settings_here() -> None:
    assert set(SHRUNK) == set(RECIPE_NAMES)


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_every_recipe_runs_end_to_end_and_its_report_keeps_every_step(
    recipe: str, make_cfg, tmp_path: Path
) -> None:
    run = run_configured(make_cfg(f"recipe={recipe}", *SHRUNK[recipe]), tmp_path / "run")
    top = manifest(run.dir)
    assert top["status"] == "ok" and top["recipe"] == recipe
    report = (run.dir / "report.md").read_text()
    steps = [p.parent for p in sorted(run.dir.rglob("manifest.json")) if p.parent != run.dir]
    assert steps, "a recipe runs at least one step"
    for folder in steps:
        step = manifest(folder)
        assert step["status"] == "ok", folder
        assert step["report_sections"], f"{folder} contributed nothing to the report"
        relative = folder.relative_to(run.dir).as_posix()
        for title, body in step["report_sections"]:
            assert f"### {title}\n" in report, (folder, title)
            assert nest_section(body, relative).strip() in report, (folder, title)


def test_panel_dpo_hands_each_step_the_artifacts_of_the_ones_before(make_cfg, tmp_path: Path) -> None:
    run = run_configured(make_cfg(*SHRUNK["panel_dpo"]), tmp_path / "run")
    assert len(read_jsonl(run.dir / "full" / "prepare" / "dataset.jsonl")) == 24
    train = manifest(run.dir / "full" / "train")
    assert train["stage_inputs"]["dataset"] == str(run.dir / "full" / "prepare" / "dataset.jsonl")
    generate = manifest(run.dir / "generate")
    assert generate["stage_inputs"]["questions_dir"] == str(run.dir / "questions" / "questions")
    assert [m["name"] for m in generate["stage_inputs"]["models"]] == ["base", "hard", "full"]
    assert generate["stage_inputs"]["models"][1]["path"] == str(run.dir / "hard" / "train" / "checkpoint")
    evaluate = manifest(run.dir / "evaluate")
    assert evaluate["stage_inputs"]["responses_dir"] == str(run.dir / "generate" / "responses")
    rank = manifest(run.dir / "rank")
    assert rank["stage_inputs"]["pairwise"] == str(run.dir / "evaluate" / "pairwise.jsonl")
    assert {row["model"] for row in rank["metrics"]["leaderboard"]} == {"base", "hard", "full"}
    report = (run.dir / "report.md").read_text()
    assert (
        report.index("## Leaderboard")
        < report.index("## Steps, in order")
        < report.index("## prepare (hard)")
    )
    assert "](rank/scores.png)" in report and "](hard/train/training_curves.png)" in report
    assert "### Questions" in report and "| clause_id |" in report  # the questions step's content, not empty


def test_modes_come_from_the_list_unless_the_command_line_names_one(make_cfg) -> None:
    cfg = make_cfg("recipe.dataset_modes=[hard,full]")
    assert dataset_modes(cfg.recipe, cfg.dataset_mode.name, []) == ["hard", "full"]
    cfg = make_cfg("dataset_mode=soft")
    assert dataset_modes(cfg.recipe, cfg.dataset_mode.name, ["dataset_mode=soft"]) == ["soft"]
    cfg = make_cfg("recipe.dataset_modes=null", "dataset_mode=us_rep")
    assert dataset_modes(cfg.recipe, cfg.dataset_mode.name, []) == ["us_rep"]


def test_a_step_without_the_step_it_needs_is_refused() -> None:
    with pytest.raises(ConfigError, match="train needs prepare"):
        checked_steps(["train", "questions"], STEPS, NEEDS)
    with pytest.raises(ConfigError, match=r"unknown step\(s\) \['pipeline'\]"):
        checked_steps(["pipeline"], STEPS, NEEDS)
    assert checked_steps(["questions", "generate", "evaluate", "rank"], STEPS, NEEDS) == [
        "questions",
        "generate",
        "evaluate",
        "rank",
    ]


def test_nested_sections_go_one_level_down_and_link_into_the_step() -> None:
    body = "#### Detail\n\n![scores.png](scores.png) [x](https://a.b) [y](#anchor)\n"
    assert (
        nest_section(body, "rank")
        == "##### Detail\n\n![scores.png](rank/scores.png) [x](https://a.b) [y](#anchor)\n"
    )


def test_resume_reuses_finished_steps_reruns_unfinished_ones_and_refuses_changed_ones(
    make_cfg, tmp_path: Path
) -> None:
    args = ["recipe.stages=[prepare]", "recipe.dataset_modes=[us_rep,full]", "recipe.max_pairs_per_mode=30"]
    first = run_configured(make_cfg(*args), tmp_path / "run")
    full = (first.dir / "full" / "prepare" / "dataset.jsonl").read_bytes()
    (first.dir / "manifest.json").unlink()  # as if the recipe had been killed before its end
    (first.dir / "us_rep" / "prepare" / "manifest.json").unlink()  # a step that never finished
    again = run_configured(make_cfg(*args, "resume=true"), first.dir)
    assert _steps(again.dir) == {"prepare (us_rep)": "done", "prepare (full)": "reused"}
    assert (again.dir / "full" / "prepare" / "dataset.jsonl").read_bytes() == full

    (again.dir / "manifest.json").unlink()
    with pytest.raises(ArtifactExistsError, match="its config differs"):
        run_configured(make_cfg(*args, "resume=true", "dataset.pairs=chosen_vs_worst"), first.dir)
    (again.dir / "full" / "prepare" / "dataset.jsonl").write_text("tampered\n")
    with pytest.raises(ArtifactExistsError, match="an output file is missing or changed"):
        run_configured(make_cfg(*args, "resume=true"), first.dir)


def _steps(run_dir: Path) -> dict[str, str]:
    """{label: done | reused} from the recipe report's list of steps."""
    lines = (run_dir / "report.md").read_text().split("## Steps, in order\n\n", 1)[1].split("\n\n", 1)[0]
    return {line.split("[", 1)[1].split("]", 1)[0]: line.rsplit(": ", 1)[1] for line in lines.splitlines()}


TRAIN_ARGS = [
    "recipe.stages=[prepare,train]", "recipe.dataset_modes=[full]", "recipe.max_pairs_per_mode=48",
    "model.tiny.warmup_steps=0", "train.eval_ratio=0", "trainer.per_device_train_batch_size=4",
    "trainer.save_strategy=steps", "trainer.save_steps=2", "+trainer.max_steps=10", "trainer.logging_steps=1",
]  # fmt: skip


def _demalign(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "demalign.run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_sigkill_during_train_then_resume_finishes_like_an_uninterrupted_run(tmp_path: Path) -> None:
    """Reference: the recipe uninterrupted. Then the same recipe is SIGKILLed once training has
    written an intermediate checkpoint; `resume=true` reuses the finished prepare step (hash-checked),
    resumes training from the last complete checkpoint, and ends with the same weights and data."""
    common = [*TRAIN_ARGS, f"paths.cache_dir={tmp_path / 'cache'}"]
    reference = _demalign(*common, f"hydra.run.dir={tmp_path / 'ref'}", cwd=tmp_path)
    assert reference.wait(timeout=600) == 0, reference.stdout.read().decode()

    killed_dir = tmp_path / "outputs" / "panel_dpo" / "2026-01-01_00-00-00_000000"  # resume finds it by name
    child = _demalign(*common, f"hydra.run.dir={killed_dir}", cwd=tmp_path)
    checkpoints = killed_dir / "full" / "train" / "trainer_checkpoints"
    deadline = time.monotonic() + 600
    while not (checkpoints / "checkpoint-4" / "trainer_state.json").exists() and child.poll() is None:
        assert time.monotonic() < deadline, "training never wrote checkpoint-4"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and not (killed_dir / "manifest.json").exists()

    resumed = _demalign(*common, "resume=true", f"paths.output_dir={tmp_path / 'outputs'}", cwd=tmp_path)
    output = resumed.communicate(timeout=600)[0].decode()
    assert resumed.returncode == 0, output
    assert "prepare (full) … reused" in output and "train (full) … done in" in output
    train = manifest(killed_dir / "full" / "train")
    assert any("/trainer_checkpoints/checkpoint-" in name for name in train["inputs"]), (
        "training did not resume"
    )
    assert manifest(killed_dir)["status"] == "ok"
    ref_train = tmp_path / "ref" / "full" / "train"
    for name in ("checkpoint/model.safetensors", "../prepare/dataset.jsonl"):
        assert (killed_dir / "full" / "train" / name).read_bytes() == (ref_train / name).read_bytes(), name


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


EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_then_collect_hands_its_checkpoints_to_the_recipe(
    experiment: str, make_cfg, tmp_path: Path
) -> None:
    """The documented sweep flow on the sample: the experiment's jobs (two dataset modes here), collect,
    then the recipe's evaluation steps on the collected checkpoints."""
    done = subprocess.run(
        [sys.executable, "-m", "demalign.run", "-m", f"experiment={experiment}", "dataset_mode=full,us_rep",
         "recipe.max_pairs_per_mode=16", "+trainer.max_steps=1", "train.eval_ratio=0", "model.tiny.warmup_steps=0",
         f"paths.output_dir={tmp_path / 'outputs'}", f"paths.cache_dir={tmp_path / 'cache'}"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "panel_dpo" / "multirun").iterdir()
    collected = run_configured(make_cfg("stage=collect", f"collect.sweep_dir={sweep}"), tmp_path / "collect")
    models = json.loads((collected.dir / "evaluate_models.json").read_text())
    assert [m["name"] for m in models] == ["base", "full", "us_rep"]
    cfg = make_cfg("recipe.stages=[questions,generate,evaluate,rank]", f"generate.models_file={collected.dir / 'evaluate_models.json'}",
                   "generate.max_questions=4", "generate.max_new_tokens=8", "evaluate.num_judges=1", "rank.bootstrap_samples=10",
                   f"paths.cache_dir={tmp_path / 'cache'}")  # fmt: skip
    run = run_configured(cfg, tmp_path / "evaluation")
    assert {row["model"] for row in manifest(run.dir / "rank")["metrics"]["leaderboard"]} == {
        "base",
        "full",
        "us_rep",
    }
