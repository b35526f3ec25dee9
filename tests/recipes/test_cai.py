"""recipe=cai end to end offline: tiny model, tiny encoder, bundled prompts and principles; every step hands
its output to the next, four models are evaluated with paired tests, and a resumed run reuses every step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict

from demalign.artifacts import read_jsonl
from demalign.run import run_configured, run_folder
from tests.conftest import compose_config
from tests.judge_server import JudgeServer
from tests.recipes.test_panel_dpo import REPO, SHRUNK
from tests.unit.test_training_weighted import CACHE

torch.set_num_threads(1)
FAST = ["recipe=cai", *SHRUNK["cai"]]


def test_cai_recipe_offline_end_to_end_and_resume(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    def config(*more: str) -> DictConfig:
        cfg = make_cfg(*FAST, *more)
        with open_dict(cfg):
            cfg.paths.cache_dir = str(CACHE)  # the shared tiny model and encoder
            for group in ("helpful", "revise", "cai_eval"):
                cfg[group].cache_dir = str(tmp_path / "calls")
        return cfg

    run = run_configured(config(), tmp_path / "cai")
    manifest = json.loads((run.dir / "manifest.json").read_text())
    steps = ["classify", "helpful", "helpful_sft", "revise", "cai_sft", "dpo", "evaluate"]
    assert [k for k in manifest["metrics"] if k in steps] == steps
    revise = manifest["metrics"]["revise"]
    assert revise["pref_pairs"] >= 1 and revise["helpful_rows"] == 8 and revise["rounds_run"] == 16
    assert revise["kept"] + sum(revise["dropped"].values()) == 8
    # the revise generator is the helpful model, DPO starts from the CAI SFT checkpoint
    chains = read_jsonl(run.dir / "revise" / "chains.jsonl")
    assert len(chains) == 8 and all(len(c["rounds"]) == 2 for c in chains)
    revise_manifest = json.loads((run.dir / "revise" / "manifest.json").read_text())
    assert revise_manifest["config"]["revise"]["generator"]["path"].endswith("helpful/sft/checkpoint")
    dpo_manifest = json.loads((run.dir / "cai" / "dpo" / "manifest.json").read_text())
    assert dpo_manifest["config"]["model"]["name_or_path"].endswith("cai/sft/checkpoint")
    # SFT on revisions mixed with the helpfulness set
    assert len(read_jsonl(run.dir / "revise" / "sft.jsonl")) == revise["sft_rows"] + 8

    evaluation = manifest["metrics"]["evaluate"]
    assert evaluation["models"] == ["base", "helpful", "cai_sft", "cai_dpo"]
    pairs = {(c["a"], c["b"]) for c in evaluation["comparisons"]}
    assert pairs == {("base", "helpful"), ("helpful", "cai_sft"), ("cai_sft", "cai_dpo")}
    assert {c["signal"] for c in evaluation["comparisons"]} >= {"harm_prevention (rule)", "classifier safe"}
    assert [row["model"] for row in evaluation["red_team"]] == evaluation["models"]
    assert len(evaluation["classifier"]) == 4  # the classifier's verdict is the harm signal
    report = (run.dir / "report.md").read_text()
    assert report.index("Red team: safe answers per condition") < report.index("Steps, in order")

    (run.dir / "manifest.json").unlink()  # as if killed before the end
    again = run_configured(config("resume=true"), run.dir)
    statuses = json.loads((again.dir / "manifest.json").read_text())
    assert statuses["status"] == "ok"
    listed = (again.dir / "report.md").read_text().split("## Steps, in order")[1].split("\n## ")[0]
    assert [line.rsplit(": ", 1)[1] for line in listed.strip().splitlines()] == ["reused"] * 7


def api_overrides(server: JudgeServer, calls: Path) -> list[str]:
    """recipe=cai with the helpful-set writer, the reviser and the critic (revise's critic check, the
    evaluation's principle critic) as API models on the loopback server; the trained models stay local.
    The safety classifier (no API model; the offline test runs it) is left out to keep the test short;
    DPO's max_length fits a red-team prompt with its scripted answers (trl drops a pair whose prompt
    alone fills max_length)."""
    writer = f"{{name: writer, kind: litellm, model: openai/scripted-writer, base_url: '{server.base_url}'}}"
    return [
        *FAST, "recipe.stages=[helpful,helpful_sft,revise,cai_sft,dpo,evaluate]", "trainer.max_length=128",
        f"helpful.generator={writer}", f"revise.generator={writer}", "revise.critic_check=true",
        "cai_eval.llm_critic=true", "judge=litellm", "judge.model=openai/scripted-critic",
        f"judge.base_url={server.base_url}", "judge.max_backoff=0.05", "judge.max_retries=8",
        "helpful.api.max_backoff=0.05", "helpful.api.max_retries=8", "revise.api.max_backoff=0.05",
        "revise.api.max_retries=8", *(f"{group}.cache_dir={calls}" for group in ("helpful", "revise", "cai_eval")),
    ]  # fmt: skip


def api_calls(cache: Path) -> set[str]:
    """Keys of the finished API calls in a call cache (the trained local models' answers share the file)."""
    lines = cache.read_text().splitlines() if cache.exists() else []
    records = [json.loads(line) for line in lines if line.endswith("}")]
    return {r["key"] for r in records if r["model"].startswith("openai/")}


def test_api_generator_and_critic_faults_lose_nothing_and_sigkill_resume_repeats_no_finished_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Helpful-set writer, reviser and critic on the loopback server. With 20% faults (429, 500, slow,
    malformed) recipe=cai completes: a chain row for every red-team prompt (kept or dropped with its
    reason), a helpfulness row and a critic verdict for everything asked, no call lost. Then, faults off
    and a fresh cache: a run SIGKILLed once the server has seen half the faulty run's distinct requests
    leaves F finished API calls in its cache; `resume=true` finds the unfinished run and sends exactly
    D - F requests, D the distinct requests of the clean run (not the faulty one's: a malformed reply is
    a valid answer for a writer, it reaches the SFT data, so the trained models' answers that the critic
    scores, and how many of them coincide, can differ)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(
        fault_rate=0.2, faults=("429", "500", "slow", "malformed"), slow_seconds=0.05, seed=3
    ) as server:
        faulty = run_configured(
            compose_config(api_overrides(server, tmp_path / "calls_faulty")), tmp_path / "faulty"
        )
        assert json.loads((faulty.dir / "manifest.json").read_text())["status"] == "ok"
        assert sum(server.faults_injected.values()) > 0
        half = len(server.by_content) // 2
        metrics = json.loads((faulty.dir / "manifest.json").read_text())["metrics"]
        assert metrics["helpful"]["rows"] == 8 and metrics["helpful"]["failed"] == 0
        revise = metrics["revise"]
        chains = read_jsonl(faulty.dir / "revise" / "chains.jsonl")
        assert len({c["prompt_id"] for c in chains}) == len(chains) == revise["prompts"] == 8
        assert revise["kept"] + sum(revise["dropped"].values()) == 8 and revise["dropped"]["failed"] == 0
        assert all(len(c["rounds"]) == 2 for c in chains)
        # the critic scores every chain a revision check kept (a malformed writer reply can make a revision
        # equal its initial answer: dropped as unchanged before the critic)
        judged = [c for c in chains if c["dropped"] in (None, "critic_worse", "critic_invalid")]
        assert all(set(c["critic_scores"]) == {"initial", "revision"} for c in judged)
        assert revise["usage"]["critic check"]["calls"] == 2 * len(judged)
        assert all(part["failed"] == 0 for part in revise["usage"].values())
        scores = read_jsonl(faulty.dir / "evaluate" / "scores.jsonl")
        # models x prompts (one per category) x principles, each one critic-scored or marked invalid
        assert len(scores) == 4 * 3 * 4
        assert all(r["critic_valid"] == (r["critic_score"] is not None) for r in scores)

        server.fault_rate = 0.0
        server.reset_counts()
        outputs, calls = tmp_path / "outputs", tmp_path / "calls"
        killed = outputs / "cai" / "2026-01-01_00-00-00_000000"
        args = [*api_overrides(server, calls), f"paths.output_dir={outputs}"]
        log = tmp_path / "killed.log"
        child = demalign_process([*args, f"hydra.run.dir={killed}"], tmp_path, log)
        deadline = time.monotonic() + 240
        while server.requests < half and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL, log.read_text()
        assert not (killed / "manifest.json").exists()
        finished = api_calls(calls / "calls.jsonl")
        sent_before = set(server.by_content)

        server.requests = 0
        again = compose_config([*args, "resume=true"])
        # what `demalign ... resume=true` runs in (hydra.run.dir): the newest unfinished run of the recipe
        folder = Path(run_folder(again.paths.output_dir, again.stage, again.recipe.name, again.resume))
        assert folder == killed
        resumed = run_configured(again, folder)
        distinct = len(server.by_content)  # the clean run's distinct requests, over both processes
        assert 0 < len(finished) <= len(sent_before) < distinct
        assert server.requests == distinct - len(finished)
        assert json.loads((resumed.dir / "manifest.json").read_text())["status"] == "ok"
        listed = (resumed.dir / "report.md").read_text().split("## Steps, in order")[1].split("\n## ")[0]
        steps = [line.rsplit(": ", 1)[1] for line in listed.strip().splitlines()]
        # killed after the helpfulness set (in revise, at half the requests): its steps are reused
        assert steps[:2] == ["reused", "reused"] and set(steps) <= {"reused", "done"} and steps[-1] == "done"
        assert len(read_jsonl(resumed.dir / "revise" / "chains.jsonl")) == 8


def demalign_process(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """`demalign <args>` in its own process (output to `log`: a pipe nobody reads could block it); one
    torch thread, as in this test process, so it does not compete with the server for the cores."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "demalign.run", *args], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})  # fmt: skip
