"""stage=questions: the offline bank, and litellm against the loopback server with injected faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from demalign.errors import ConfigError
from demalign.run import run_configured
from tests.judge_server import JudgeServer

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def make_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose(
            "config", overrides=["stage=questions", f"paths.cache_dir={tmp_path}/cache", *overrides]
        )


def read_clauses(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "questions").glob("clause_*.json"))]


def test_bank_writes_every_clause_offline(tmp_path: Path) -> None:
    cfg = make_cfg(
        tmp_path, "questions.backend=bank", "constitution.start_clause=3", "constitution.end_clause=7"
    )
    run = run_configured(cfg, tmp_path / "run")
    records = read_clauses(run.dir)
    assert [r["clause_id"] for r in records] == [3, 4, 5, 6, 7]
    assert all(len(set(r["questions"])) == 5 and r["question_model"] == "bank:default.yaml" for r in records)
    assert set(records[0]) >= {"clause_id", "clause", "questions", "question_model"}
    assert run.metrics["questions"] == 25 and "questions/clause_03.json" in run.outputs
    assert "| 3 | 5 |" in (run.dir / "report.md").read_text()


def test_bank_refuses_more_questions_than_it_has(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"questions\.n_questions=50"):
        run_configured(make_cfg(tmp_path, "questions.n_questions=50"), tmp_path / "run")


def test_litellm_questions_survive_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 clauses, 20% faults (429, 500, slow, malformed JSON): every clause ends with 4 distinct
    questions from the server; a rerun is served from the cache with zero requests."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake-questions")
    with JudgeServer(fault_rate=0.2, slow_seconds=0.05, seed=3) as server:
        overrides = ("questions.backend=litellm", "questions.model=question-writer", f"questions.base_url={server.base_url}",
                     "questions.n_questions=4", "questions.retry_backoff=0.01", "questions.max_retries=8")  # fmt: skip
        run = run_configured(make_cfg(tmp_path, *overrides), tmp_path / "run")
        records = read_clauses(run.dir)
        assert len(records) == 30 and all(len(set(r["questions"])) == 4 for r in records)
        assert records[0]["question_model"] == "question-writer"
        assert sum(server.faults_injected.values()) > 0
        server.reset_counts()
        rerun = run_configured(make_cfg(tmp_path, *overrides), tmp_path / "rerun")
        assert server.requests == 0 and read_clauses(rerun.dir) == records
