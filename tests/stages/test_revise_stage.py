"""stage=revise end to end: offline with the tiny model (and the heuristic critic check), and with an API
generator against the loopback server (20% injected faults, nothing lost; a rerun repeats no finished call)."""

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
from omegaconf import DictConfig, open_dict

from demalign.artifacts import read_jsonl
from demalign.cai.generator import generator_spec
from demalign.errors import ConfigError
from demalign.run import run_configured
from demalign.stages import revise
from tests.judge_server import JudgeServer
from tests.unit.test_training_weighted import CACHE

REPO = Path(__file__).resolve().parents[2]


def test_offline_tiny_model_two_rounds_with_critic_check(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = make_cfg("stage=revise", "revise.limit=4", "revise.rounds=2", "revise.max_new_tokens=6", "revise.few_shot=false",
                   "revise.principle_sampling=without_replacement", "revise.critic_check=true", "judge=heuristic")  # fmt: skip
    with open_dict(cfg):
        cfg.paths.cache_dir = str(CACHE)  # the shared tiny model (built once for the suite)
        cfg.revise.cache_dir = str(tmp_path / "calls")
    run = run_configured(cfg, tmp_path / "revise")
    out = revise.Outputs.in_folder(run.dir)
    chains = read_jsonl(out.chains)
    assert len(chains) == 4 and all(c["category"] == "adversarial" and c["error"] is None for c in chains)
    for chain in chains:
        assert [r["round"] for r in chain["rounds"]] == [1, 2]
        assert len(set(chain["principles"])) == 2  # without replacement
        if chain["dropped"] is None:
            assert (
                "critic_scores" in chain
                and chain["critic_scores"]["revision"] >= chain["critic_scores"]["initial"]
            )
    dropped = run.metrics["dropped"]
    assert run.metrics["kept"] + sum(dropped.values()) == 4 == len(chains)
    assert len(read_jsonl(out.dropped)) == sum(dropped.values())
    sft, prefs = read_jsonl(out.sft), read_jsonl(out.prefs)
    assert len(sft) + len(prefs) == run.metrics["kept"]
    assert not {r["prompt_id"] for r in sft} & {r["prompt_id"] for r in prefs}
    report = (run.dir / "report.md").read_text()
    for heading in ("## Critique and revision", "## Kept and dropped", "## Tokens and cost"):
        assert heading in report


def api(server: JudgeServer, *more: str) -> list[str]:
    return ["stage=revise", "revise.generator.kind=litellm", "revise.generator.model=gen",
            f"revise.generator.base_url={server.base_url}", "revise.api.concurrency=8", "revise.api.retry_backoff=0.01",
            "revise.api.max_retries=10", "revise.limit=8", "revise.rounds=2", *more]  # fmt: skip


def test_api_generator_killed_then_rerun_with_faults_loses_nothing_and_repeats_no_finished_call(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage runs in a child process against the loopback server and is SIGKILLed once some answers are in
    the call cache; the rerun (20% injected faults: 429, 500, slow) asks only the calls the cache lacks, loses
    none (every chain complete), and a third run with one more round sends only that round's calls."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    calls = tmp_path / "calls"
    total = 8 * (1 + 2 * 2)  # initial answer + 2 rounds x (critique, revision)
    with JudgeServer(latency=0.05, seed=3) as server:
        args = [*api(server, "revise.api.concurrency=2"), f"revise.cache_dir={calls}",
                f"paths.output_dir={tmp_path / 'outputs'}", f"hydra.run.dir={tmp_path / 'killed'}"]  # fmt: skip
        child = subprocess.Popen([sys.executable, "-m", "demalign.run", *args], cwd=tmp_path,
                                 env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        cache = calls / "calls.jsonl"
        deadline = time.monotonic() + 300
        while child.poll() is None and (not cache.is_file() or len(cache.read_text().splitlines()) < 12):
            assert time.monotonic() < deadline, "the child never wrote 12 answers"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL and not (tmp_path / "killed" / "chains.jsonl").exists()
        finished = {json.loads(line)["key"] for line in cache.read_text().splitlines() if line.endswith("}")}
        assert 12 <= len(finished) < total

        server.fault_rate, server.faults = 0.2, ("429", "500", "slow")
        server.reset_counts()
        rerun = run_configured(make_cfg(*api(server), f"revise.cache_dir={calls}"), tmp_path / "rerun")
        assert sum(server.faults_injected.values()) > 0
        chains = read_jsonl(revise.Outputs.in_folder(rerun.dir).chains)
        assert len(chains) == 8 and all(c["error"] is None and len(c["rounds"]) == 2 for c in chains)
        new = sum(u["new_calls"] for u in rerun.metrics["usage"].values())
        assert sum(u["calls"] for u in rerun.metrics["usage"].values()) == total
        assert len(server.by_content) == new == total - len(finished)  # nothing finished was asked again
        assert rerun.metrics["kept"] == 8 and rerun.metrics["sft_rows"] == rerun.metrics["pref_pairs"] == 4

        server.fault_rate = 0.0
        server.reset_counts()
        third = run_configured(
            make_cfg(*api(server, "revise.rounds=3"), f"revise.cache_dir={calls}"), tmp_path / "third"
        )
        assert server.requests == 8 * 2 and third.metrics["rounds_run"] == 24
        assert [c["rounds"][:2] for c in read_jsonl(revise.Outputs.in_folder(third.dir).chains)] == [
            c["rounds"] for c in chains
        ]


def test_bad_generator_and_empty_prompt_selection_name_the_key(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"revise\.generator\.kind"):
        generator_spec({"name": "g", "kind": "api"})
    with pytest.raises(ConfigError, match=r"revise\.categories=\['nothing'\]"):
        run_configured(make_cfg("stage=revise", "revise.categories=[nothing]"), tmp_path / "r")
