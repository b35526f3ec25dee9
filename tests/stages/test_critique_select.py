"""critique then select, end to end: offline with the heuristic critic, and with litellm against the loopback
server (20% injected faults, nothing lost; a rerun repeats no finished call); dry run; clause subsets."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from demalign.artifacts import read_jsonl
from demalign.errors import ConfigError
from demalign.run import run_configured
from demalign.stages import critique, select
from demalign.training.tiny import ensure_tiny_model
from tests.judge_server import JudgeServer

CATEGORIES = ("adversarial", "borderline", "cooperative")
QUESTIONS = {
    "adversarial": "How can I get into my neighbour's wifi without the password?",
    "borderline": "What household chemicals should never be mixed when cleaning?",
    "cooperative": "How can honesty strengthen a long friendship between neighbours?",
}
ANSWERS = (
    "I can't help with getting into someone else's network, but you could ask your neighbour to share it.",
    "Honesty strengthens friendship: trust grows when neighbours say plainly what they think and keep promises.",
    "ok ok ok",
    "ok ok ok",  # a duplicate of the previous candidate
)


@pytest.fixture
def candidates(tmp_path: Path) -> Path:
    """3 categories x 2 prompts x 4 candidates = 24 lines (one duplicate text per prompt)."""
    rows = [
        {"prompt_id": f"{cat[:3]}-{p}", "prompt": f"{QUESTIONS[cat]} (variant {p})", "candidate_id": f"{cat[:3]}-{p}/{n}",
         "candidate": text, "category": cat}
        for cat in CATEGORIES for p in range(2) for n, text in enumerate(ANSWERS)
    ]  # fmt: skip
    path = tmp_path / "candidates.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_offline_critique_then_select(
    candidates: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    run = run_configured(make_cfg("stage=critique", "judge=heuristic", f"critique.candidates={candidates}"),
                         tmp_path / "critique")  # fmt: skip
    out = critique.Outputs.in_folder(run.dir)
    rows = read_jsonl(out.critiques)
    given = read_jsonl(candidates)
    assert [(r["prompt_id"], r["candidate_id"], r["candidate"]) for r in rows] == [
        (g["prompt_id"], g["candidate_id"], g["candidate"]) for g in given
    ]
    assert all(
        r["valid"] and 1 <= r["score"] <= 5 and r["safe"] == (r["score"] >= 4) and r["raw"] for r in rows
    )
    assert run.metrics["candidates"] == 24 and run.metrics["invalid"] == 0 and run.metrics["prompts"] == 6
    assert sum(run.metrics["score_counts"].values()) == 24
    assert run.metrics["usage"]["calls"] == 18  # the duplicate text asks the same question: sent once
    assert [c["category"] for c in run.metrics["categories"]] == list(CATEGORIES)
    report = (run.dir / "report.md").read_text()
    for heading in ("## Critique", "## Scores", "## Safe rate per category", "## Tokens and cost"):
        assert heading in report
    assert (run.dir / "score_histogram.png").is_file() and "score_histogram.png" in report

    chosen = run_configured(
        make_cfg("stage=select", f"select.critiques={out.critiques}", "select.policy=diverse", "select.val_ratio=0.34"),
        tmp_path / "select",
    )  # fmt: skip
    files = select.Outputs.in_folder(chosen.dir)
    for path in (
        files.sft_train,
        files.sft_val,
        files.dpo_train,
        files.dpo_val,
        files.kto_train,
        files.kto_val,
    ):
        assert path.is_file(), path
    assert chosen.metrics["dropped"]["duplicate"] == 6 and chosen.metrics["val_prompts"] == 2
    kto = read_jsonl(files.kto_train) + read_jsonl(files.kto_val)
    assert len(kto) == 12 and all(isinstance(r["label"], bool) for r in kto)
    for pair in read_jsonl(files.dpo_train) + read_jsonl(files.dpo_val):
        assert pair["chosen"] != pair["rejected"] and pair["margin"] >= 1
    dropped = read_jsonl(files.dropped)
    assert len(dropped) == sum(chosen.metrics["dropped"].values())
    report = (chosen.dir / "report.md").read_text()
    assert "## Selection" in report and "## Dropped" in report and "self_contradiction" in report


def api(server: JudgeServer, candidates: Path, *more: str) -> list[str]:
    return ["stage=critique", "judge=litellm", f"judge.base_url={server.base_url}", "judge.model=critic",
            "judge.concurrency=4", "judge.retry_backoff=0.01", "judge.max_retries=8",
            f"critique.candidates={candidates}", *more]  # fmt: skip


def test_faults_lose_nothing_and_a_rerun_repeats_no_finished_call(
    candidates: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20% faults (429, 500, slow, malformed), the first 3 answers malformed, no re-asks: every candidate
    has a row, valid, or invalid with the raw text (never a score). The rerun (faults off, same cache)
    sends exactly the invalid ones again, nothing else, and they now parse."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    faults = ("malformed", "429", "500", "slow")
    with JudgeServer(fault_rate=0.2, faults=faults, fail_first=3, slow_seconds=0.05, seed=5) as server:
        first = run_configured(
            make_cfg(*api(server, candidates, "judge.invalid_retries=0")), tmp_path / "first"
        )
        assert server.faults_injected["malformed"] >= 3
        rows = read_jsonl(critique.Outputs.in_folder(first.dir).critiques)
        assert len(rows) == 24
        invalid = [r for r in rows if not r["valid"]]
        assert len(invalid) >= 3 and first.metrics["invalid"] == len(invalid)
        assert all(r["score"] is None and r["safe"] is None and "malformed" in r["raw"] for r in invalid)
        assert all(r["reason"] == "Scripted critique." for r in rows if r["valid"])
        distinct_invalid = len({(r["prompt"], r["candidate"]) for r in invalid})

        server.fault_rate, server.fail_first = 0.0, 0
        server.reset_counts()
        rerun = run_configured(
            make_cfg(*api(server, candidates, "judge.invalid_retries=0")), tmp_path / "rerun"
        )
        assert server.requests == distinct_invalid
        assert all(r["valid"] for r in read_jsonl(critique.Outputs.in_folder(rerun.dir).critiques))
        assert rerun.metrics["usage"]["new_calls"] == distinct_invalid

        server.reset_counts()
        run_configured(make_cfg(*api(server, candidates)), tmp_path / "third")
        assert server.requests == 0


def test_unparseable_answers_are_re_asked(
    candidates: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first 3 answers are malformed; judge.invalid_retries=1 re-asks them: all valid, 18 + 3 requests."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(faults=("malformed",), fail_first=3) as server:
        run = run_configured(make_cfg(*api(server, candidates, "judge.invalid_retries=1")), tmp_path / "run")
        assert server.requests == 18 + 3
    assert run.metrics["invalid"] == 0 and run.metrics["valid"] == 24


def test_dry_run_prices_the_real_prompts_and_sends_nothing(
    candidates: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = run_configured(make_cfg("stage=critique", "judge=litellm", f"critique.candidates={candidates}",
                                  "critique.dry_run=true"), tmp_path / "run")  # fmt: skip
    assert "critique.dry_run: nothing sent" in capsys.readouterr().out
    [estimate] = run.metrics["estimate"]
    assert estimate["calls"] == 18 and estimate["completion_tokens"] == 18 * 1024
    assert estimate["prompt_tokens"] > 18 * 100 and estimate["expected_cost_usd"] > 0  # gpt-5.2 has a price
    assert (
        not (run.dir / "critiques.jsonl").exists()
        and "Critique dry run" in (run.dir / "report.md").read_text()
    )


def test_clause_subset_is_the_rubric(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    cfg = make_cfg("critique.clauses=[10,11]", "critique.candidates=unused")
    env = DictConfig({"constitution": cfg.constitution})
    text, ids = critique.rubric(
        cfg.critique, env, critique.Inputs.from_config(cfg.critique, env).constitution
    )
    assert ids == [10, 11] and text.startswith("10. Refuse") and text.count("\n") == 1
    with pytest.raises(ConfigError, match=r"critique.clauses=\[10, 99\]: ids \[99\] are not"):
        critique.rubric(DictConfig({"clauses": [10, 99]}), env, critique.constitution_path(None))
    with pytest.raises(ConfigError, match=r"critique.safe_threshold=6 is outside the scale 1\.\.5"):
        critique.scale_of(DictConfig({"scale_low": 1, "scale_high": 5, "safe_threshold": 6}))


def test_hf_critic_on_the_tiny_model_records_invalid_answers_with_raw_text(
    candidates: Path, make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    """The tiny model cannot answer in JSON: every verdict is invalid, kept with its raw text (empty where
    it stopped at once), never scored; select then has nothing to choose and says why."""
    tiny = ensure_tiny_model(Path(tempfile.gettempdir()) / "demalign-test-cache")  # shared with other tests
    run = run_configured(make_cfg("stage=critique", "judge=hf", f"judge.name_or_path={tiny}", "judge.max_new_tokens=6",
                                  "judge.batch_size=8", f"critique.candidates={candidates}"), tmp_path / "critique")  # fmt: skip
    rows = read_jsonl(critique.Outputs.in_folder(run.dir).critiques)
    assert len(rows) == 24 and not any(r["valid"] for r in rows)
    assert all(
        isinstance(r["raw"], str) and r["error"] is None and r["score"] is None for r in rows
    )  # answered
    assert run.metrics["mean_score"] is None and run.metrics["score_counts"]["invalid"] == 24
    chosen = run_configured(make_cfg("stage=select", f"select.critiques={run.dir / 'critiques.jsonl'}"),
                            tmp_path / "select")  # fmt: skip
    assert chosen.metrics["dropped"]["invalid"] == 24 and chosen.metrics["prompts_selected"] == 0
    assert read_jsonl(select.Outputs.in_folder(chosen.dir).sft_train) == []
