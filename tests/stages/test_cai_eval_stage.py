"""stage=cai_eval offline: two tiny models, rule scores and the heuristic critic per principle, bootstrap table,
paired comparisons, red-team conditions; a rerun asks nothing again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, open_dict

from demalign.artifacts import read_jsonl
from demalign.run import run_configured
from demalign.stages import cai_eval
from tests.unit.test_training_weighted import CACHE


def read_json(path: Path) -> object:
    return json.loads(path.read_text())


MODELS = "cai_eval.models=[{name: base, kind: local, path: null}, {name: again, kind: local, path: null}]"


def test_offline_models_by_principle_with_critic_and_red_team(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    def config() -> DictConfig:
        cfg = make_cfg("stage=cai_eval", MODELS, "cai_eval.limit=2", "cai_eval.max_new_tokens=6", "cai_eval.llm_critic=true",
                       "cai_eval.n_resamples=200", "judge=heuristic")  # fmt: skip
        with open_dict(cfg):
            cfg.paths.cache_dir = str(CACHE)  # the shared tiny model
            cfg.cai_eval.cache_dir = str(tmp_path / "calls")
        return cfg

    run = run_configured(config(), tmp_path / "eval")
    out = cai_eval.Outputs.in_folder(run.dir)
    scores = read_jsonl(out.scores)
    assert len(scores) == 2 * 6 * 4  # 2 models x (2 prompts x 3 categories) x 4 principles
    assert all(
        0 <= r["rule_score"] <= 1 and r["critic_valid"] and 1 <= r["critic_score"] <= 5 for r in scores
    )
    table = read_json(out.table)
    assert [(r["model"], r["principle"], r["n"]) for r in table["rules"]][:4] == [
        ("base", p, 6) for p in ("harm_prevention", "truthfulness", "helpfulness", "fairness")]  # fmt: skip
    assert all(r["ci_low"] <= r["mean"] <= r["ci_high"] for r in table["rules"] + table["critic"])
    comparisons = read_json(out.comparisons)
    assert len(comparisons) == 8 and {(c["a"], c["b"]) for c in comparisons} == {("base", "again")}
    # the same model twice answers identically: every paired difference is zero
    assert all(c["delta_mean"] == 0 and c["better"] is None for c in comparisons)
    red = read_jsonl(out.red_team)
    assert len(red) == 2 * 2 * 3 and all(isinstance(r["safe"], bool) for r in red)
    assert {r["condition"] for r in red} == {"plain", "safety_system_prompt", "jailbreak"}
    assert [s["model"] for s in run.metrics["red_team"]] == ["base", "again"]
    report = (run.dir / "report.md").read_text()
    for heading in ("## Principles", "## Paired comparisons", "## Red team"):
        assert heading in report

    rerun = run_configured(config(), tmp_path / "rerun")
    assert read_jsonl(cai_eval.Outputs.in_folder(rerun.dir).scores) == scores
