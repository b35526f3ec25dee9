"""recipe=cai end to end offline: tiny model, tiny encoder, bundled prompts and principles; every step hands
its output to the next, four models are evaluated with paired tests, and a resumed run reuses every step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, open_dict

from demalign.artifacts import read_jsonl
from demalign.run import run_configured
from tests.recipes.test_panel_dpo import SHRUNK
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
