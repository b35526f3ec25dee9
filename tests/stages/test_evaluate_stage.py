"""generate then evaluate, end to end: offline with the heuristic judge over two tiny checkpoints, and
with litellm against the loopback server (faults, a SIGKILL halfway and a resume, secrets, dry runs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from demalign.artifacts import read_jsonl
from demalign.run import run_configured
from demalign.training.tiny import ensure_tiny_model
from tests.judge_server import JudgeServer

CONF = str(Path(__file__).resolve().parents[2] / "conf")
REPO = Path(__file__).resolve().parents[2]
OUTPUTS = (
    "evaluate/pairwise.jsonl",
    "evaluate/listwise.jsonl",
    "evaluate/preferences.jsonl",
    "generate/responses/model-a.jsonl",
    "generate/responses/model-b.jsonl",
)


def make_cfg(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base=None):
        return compose("config", overrides=list(overrides))


@pytest.fixture(scope="module")
def questions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bank questions for clauses 1-3 (15 questions)."""
    tmp = tmp_path_factory.mktemp("questions")
    cfg = make_cfg(
        "stage=questions",
        "questions.backend=bank",
        "constitution.end_clause=3",
        f"paths.cache_dir={tmp}/cache",
    )
    run_configured(cfg, tmp / "run")
    return tmp / "run" / "questions"


def test_offline_heuristic_over_two_tiny_checkpoints(questions_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    checkpoints = [ensure_tiny_model(cache, seed=seed) for seed in (1, 2)]
    models_file = tmp_path / "evaluate_models.json"  # as stage=collect writes it
    models_file.write_text(
        json.dumps(
            [{"name": f"ckpt{i}", "kind": "local", "path": str(c)} for i, c in enumerate(checkpoints, 1)]
        )
    )
    answers = run_configured(
        make_cfg("stage=generate", f"generate.questions_dir={questions_dir}", f"generate.models_file={models_file}",
                 "generate.max_new_tokens=12", "generate.do_sample=true", "generate.questions_per_clause=2",
                 f"paths.cache_dir={cache}"),
        tmp_path / "generate",
    )  # fmt: skip
    for name in ("responses/models.json", "responses/ckpt1.jsonl", "responses/ckpt2.jsonl", "usage.jsonl"):
        assert (answers.dir / name).is_file(), name
    assert answers.metrics["prompts"] == 6 and answers.metrics["usage"]["calls"] == 12
    candidates = read_jsonl(answers.dir / "candidates.jsonl")  # the same answers, as critique reads them
    responses = read_jsonl(answers.dir / "responses" / "ckpt2.jsonl")
    assert [c["candidate"] for c in candidates if c["candidate_id"] == "ckpt2/0"] == [
        r["response"] for r in responses
    ]
    cfg = make_cfg("stage=evaluate", "judge=heuristic", f"evaluate.responses_dir={answers.dir / 'responses'}",
                   "evaluate.mode=both", "evaluate.num_judges=2", f"paths.cache_dir={cache}")  # fmt: skip
    run = run_configured(cfg, tmp_path / "run")
    for name in (
        "pairwise.jsonl",
        "listwise.jsonl",
        "preferences.jsonl",
        "usage.jsonl",
        "report.md",
        "win_share.png",
    ):
        assert (run.dir / name).is_file(), name
    pairwise = read_jsonl(run.dir / "pairwise.jsonl")
    assert len(pairwise) == 6  # 3 clauses x 2 questions x 1 pair
    for row in pairwise:
        assert set(row) >= {"question_id", "clause_id", "question", "model_i", "model_j", "responses", "judgements",
                            "wins_i", "wins_j", "ties", "invalid", "majority_winner", "judge_raw"}  # fmt: skip
        assert row["wins_i"] + row["wins_j"] + row["ties"] + row["invalid"] == 4 and row["invalid"] == 0
    listwise = read_jsonl(run.dir / "listwise.jsonl")
    assert all(len(r["rankings"]) == 2 and sorted(r["rankings"][0]) == ["ckpt1", "ckpt2"] for r in listwise)
    [prefs] = read_jsonl(run.dir / "preferences.jsonl")
    assert prefs["wins_i"] + prefs["wins_j"] + prefs["ties"] == 24
    assert run.metrics["call_counts"] == {"pairwise": 24, "listwise": 12}
    assert "flip rate" in (run.dir / "report.md").read_text()


def api_overrides(server: JudgeServer, questions_dir: Path, cache: Path) -> list[str]:
    models = f"[{{name: model-a, kind: litellm, model: model-a, base_url: {server.base_url}}}, {{name: model-b, kind: litellm, model: model-b, base_url: {server.base_url}}}]"
    return ["recipe.stages=[generate,evaluate]", "judge=litellm", f"judge.base_url={server.base_url}",
            "judge.concurrency=2", "judge.retry_backoff=0.01", "judge.max_retries=8", "generate.api.retry_backoff=0.01",
            "generate.api.max_retries=8", "generate.api.concurrency=2", f"generate.questions_dir={questions_dir}",
            f"generate.models={models}", "evaluate.mode=both", "evaluate.num_judges=2", "generate.max_questions=8",
            f"paths.cache_dir={cache}"]  # fmt: skip


def test_faults_lose_nothing_and_the_key_stays_out_of_files(
    questions_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20% faults on responses, pairwise and listwise calls: every judgement is in the files (valid or
    invalid with its raw text); the fake key reached the server but no file of the run folder or cache."""
    secret = "sk-fake-DO-NOT-LEAK-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with JudgeServer(fault_rate=0.2, slow_seconds=0.05, seed=11) as server:
        run = run_configured(
            make_cfg(*api_overrides(server, questions_dir, tmp_path / "cache")),
            tmp_path / "run",
        )
        assert sum(server.faults_injected.values()) > 0 and f"Bearer {secret}" in server.authorizations
    pairwise = read_jsonl(run.dir / "evaluate" / "pairwise.jsonl")
    assert len(pairwise) == 8 and all(len(r["judgements"]) == 4 for r in pairwise)
    assert all(r["wins_i"] + r["wins_j"] + r["ties"] + r["invalid"] == 4 for r in pairwise)
    assert all(
        len(r["rankings"]) + r["invalid"] == 2 for r in read_jsonl(run.dir / "evaluate" / "listwise.jsonl")
    )
    usage = read_jsonl(run.dir / "evaluate" / "usage.jsonl")
    assert all(
        row["cost"] > 0 for row in usage if row["part"] in ("pairwise", "listwise") and row["valid"]
    )  # gpt-5.2 price
    assert "Tokens and cost" in (run.dir / "report.md").read_text()
    for folder in (run.dir, tmp_path / "cache"):
        for file in folder.rglob("*"):
            if file.is_file():
                assert secret.encode() not in file.read_bytes(), file


CHILD = """
import json, sys
import demalign.config
from hydra import compose, initialize_config_dir
from pathlib import Path
from demalign.run import run_configured
with initialize_config_dir(config_dir=sys.argv[1], version_base=None):
    cfg = compose("config", overrides=json.loads(sys.argv[2]))
run_configured(cfg, Path(sys.argv[3]))
"""


def test_sigkill_halfway_then_resume_repeats_no_finished_call(
    questions_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reference: an uninterrupted run on a fresh cache counts N requests (no faults, so N distinct
    calls). Then a run is SIGKILLed once the server has seen N/2 requests, leaving F finished calls in
    its cache; the rerun sends exactly N - F requests and writes files identical to the reference."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(latency=0.05) as server:
        ref = run_configured(
            make_cfg(*api_overrides(server, questions_dir, tmp_path / "ref_cache")),
            tmp_path / "ref",
        )
        total = server.requests
        server.reset_counts()

        overrides = api_overrides(server, questions_dir, tmp_path / "cache")
        child = subprocess.Popen([sys.executable, "-c", CHILD, CONF, json.dumps(overrides), str(tmp_path / "killed")],
                                 cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        deadline = time.monotonic() + 120
        while server.requests < total // 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        finished = {
            json.loads(line)["key"]
            for line in (tmp_path / "cache" / "calls" / "calls.jsonl").read_text().splitlines()
            if line.endswith("}")
        }
        assert 0 < len(finished) < total

        server.reset_counts()
        rerun = run_configured(make_cfg(*overrides), tmp_path / "rerun")
        assert server.requests == total - len(finished)
    for name in OUTPUTS:
        assert (rerun.dir / name).read_bytes() == (ref.dir / name).read_bytes(), name


def test_generate_dry_run_sends_nothing_and_stops_the_recipe(
    questions_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with JudgeServer() as server:
        overrides = [*api_overrides(server, questions_dir, tmp_path / "cache"), "generate.dry_run=true"]
        run = run_configured(make_cfg(*overrides), tmp_path / "run")
        assert server.requests == 0
    assert "generate.dry_run: nothing sent" in capsys.readouterr().out
    estimate = run.metrics["generate"]["estimate"]
    assert [row["model"] for row in estimate] == ["model-a", "model-b"]
    assert all(
        row["calls"] == 8 and row["expected_cost_usd"] is None for row in estimate
    )  # no price for model-a/b
    assert not (run.dir / "generate" / "responses").exists() and not (run.dir / "evaluate").exists()


def test_evaluate_dry_run_prices_the_judge_on_the_real_responses(
    questions_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with JudgeServer() as server:
        overrides = [
            *api_overrides(server, questions_dir, tmp_path / "cache"),
            "judge.base_url=null",
            "evaluate.dry_run=true",
        ]
        run = run_configured(make_cfg(*overrides), tmp_path / "run")
        assert server.requests == 8 * 2  # the responses only; no judge call
    assert "evaluate.dry_run: nothing sent" in capsys.readouterr().out
    estimate = {row["part"]: row for row in run.metrics["evaluate"]["estimate"]}
    assert estimate["pairwise"]["calls"] == 8 * 1 * 2 * 2 and estimate["listwise"]["calls"] == 8 * 2
    assert estimate["pairwise"]["expected_cost_usd"] > 0  # gpt-5.2 has a price in litellm's map
    assert not (run.dir / "evaluate" / "pairwise.jsonl").exists()
