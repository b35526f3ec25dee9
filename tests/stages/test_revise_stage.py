"""stage=revise end to end: offline with the tiny model (and the heuristic critic check), and with an API
generator against the loopback server (20% injected faults, nothing lost; a rerun repeats no finished call)."""

from __future__ import annotations

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


def test_api_generator_with_faults_loses_nothing_and_a_rerun_repeats_no_finished_call(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(fault_rate=0.2, faults=("429", "500", "slow"), slow_seconds=0.05, seed=3) as server:
        first = run_configured(make_cfg(*api(server)), tmp_path / "first")
        assert sum(server.faults_injected.values()) > 0
        chains = read_jsonl(revise.Outputs.in_folder(first.dir).chains)
        assert len(chains) == 8 and all(c["error"] is None and len(c["rounds"]) == 2 for c in chains)
        # few-shot prefix + prompt + initial + 2 rounds x 4 turns: every answer arrived, in its place
        calls = sum(u["calls"] for u in first.metrics["usage"].values())
        assert calls == 8 * (1 + 2 * 2) and first.metrics["kept"] == 8
        assert server.requests >= calls
        sft, prefs = (read_jsonl(p) for p in (revise.Outputs.in_folder(first.dir).sft,
                                              revise.Outputs.in_folder(first.dir).prefs))  # fmt: skip
        assert len(sft) == len(prefs) == 4

        server.fault_rate = 0.0
        server.reset_counts()
        rerun = run_configured(make_cfg(*api(server)), tmp_path / "rerun")
        assert server.requests == 0 and all(u["new_calls"] == 0 for u in rerun.metrics["usage"].values())
        assert read_jsonl(revise.Outputs.in_folder(rerun.dir).chains) == chains
        # one more round: only the new round's calls are sent
        third = run_configured(make_cfg(*api(server, "revise.rounds=3")), tmp_path / "third")
        assert server.requests == 8 * 2 and third.metrics["rounds_run"] == 24


def test_bad_generator_and_empty_prompt_selection_name_the_key(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"revise\.generator\.kind"):
        generator_spec({"name": "g", "kind": "api"})
    with pytest.raises(ConfigError, match=r"revise\.categories=\['nothing'\]"):
        run_configured(make_cfg("stage=revise", "revise.categories=[nothing]"), tmp_path / "r")
