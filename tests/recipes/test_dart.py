"""recipe=dart end to end on the loopback server (teacher and judge), the tiny model and profanity_check;
the teacher and judge under 20% faults; a judge that cannot start; resumed runs repeating no call."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.errors import ConfigError
from demalign.llm.litellm_backend import import_litellm
from demalign.run import run_configured
from tests.judge_server import JudgeServer

SHARED_MODELS = Path(tempfile.gettempdir()) / "demalign-test-cache"  # the tiny model other tests build too
QUICK = [f"paths.cache_dir={SHARED_MODELS}", "trainer=sft_tiny", "+trainer.max_steps=1", "sft.eval_ratio=0", "dart_tasks.max_train=12",
         "dart_tasks.max_test=8", "audit.max_new_tokens=8", "audit.significance.n_resamples=200"]  # fmt: skip


def teacher_and_judge(server: JudgeServer) -> list[str]:
    return ["teacher=litellm", f"teacher.base_url={server.base_url}", "teacher.model=teacher", "teacher.retry_backoff=0.01",
            "teacher.max_retries=8", "teacher.concurrency=4", "audit.judge.mode=validate", f"audit.judge.base_url={server.base_url}",
            "audit.judge.model=judge", "audit.judge.retry_backoff=0.01", "audit.judge.max_retries=8"]  # fmt: skip


def calls(tmp_path: Path) -> list[str]:
    """This test's own call cache (the model cache is shared, the answers must not be)."""
    return [f"{stage}.cache_dir={tmp_path / 'calls'}" for stage in ("distill", "audit", "repair")]


def summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_dart_recipe_end_to_end_on_loopback_teacher_and_judge(make_cfg, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer() as server:
        args = ["recipe=dart", *QUICK, *calls(tmp_path), *teacher_and_judge(server)]
        run = run_configured(make_cfg(*args), tmp_path / "run")
        sent = server.requests
        steps = {
            p.parent.relative_to(run.dir).as_posix()
            for p in run.dir.rglob("manifest.json")
            if p.parent != run.dir
        }
        assert steps == {"distill", "dart/sft", "dart/audit", "round1/repair", "round1/sft", "round1/audit"}

        distilled = json.loads((run.dir / "distill/manifest.json").read_text())["metrics"]
        assert distilled["asked"] == 12 and distilled["kept"] + distilled["dropped"] == 12
        assert distilled["drops"]["call_failed"] == 0 and distilled["drops"]["label_mismatch"] >= 1
        targets = read_jsonl(run.dir / "distill/targets.jsonl")
        assert all(t["target"].endswith(f"Conclusion: {t['label']}") for t in targets)

        first = summary(run.dir / "dart/audit")
        assert first["n"] == 8 and first["judge_status"].startswith("validate")
        scored = read_jsonl(run.dir / "dart/audit/scored.jsonl")
        pool = read_jsonl(run.dir / "dart/audit/regression_pool.jsonl")
        # validate: the judge decides; a classifier-only trigger is counted but overridden
        assert {r["id"] for r in pool} == {
            r["id"] for r in scored if r["judge"] and r["judge"]["is_regression"]
        }
        assert all(r["severity"] == r["judge"]["severity"] for r in pool if r["judge"]["severity"] != "none")
        assert first["pool"] == len(pool) >= 1
        for name in ("decision_metrics.csv", "harm_overall.csv", "harm_slices.csv", "top_regressions.jsonl",
                     "significance.tex", "significance.md", "delta_by_severity.png"):  # fmt: skip
            assert (run.dir / "dart/audit" / name).is_file(), name

        rows = read_jsonl(run.dir / "round1/repair/dataset.jsonl")
        repairs = read_jsonl(run.dir / "round1/repair/repairs.jsonl")
        weights = {"mild": 1, "moderate": 2, "severe": 3, "extreme": 4}
        assert Counter(r["weight"] for r in rows if r["id"] in {p["id"] for p in repairs}) == Counter(
            float(weights[r["severity"]]) for r in repairs
        )
        assert summary(run.dir / "round1/audit")["tuned"] == "DART_H1"
        # the second audit scored only texts it had not seen: M0's answers are the first audit's
        scored_texts = read_jsonl(tmp_path / "calls" / "harm_scores.jsonl")
        assert len({r["sha1"] for r in scored_texts}) == len(scored_texts)
        report = (run.dir / "report.md").read_text()
        assert "DART: accuracy and harm drift per round" in report and "DART_H1" in report
        assert [r["round"] for r in run.metrics["rounds"]] == [0, 1]

        # as if killed while distill and the last audit were still running: resume reruns those two steps
        # (reusing the rest) and their teacher and judge calls come from the call cache, none is sent again
        for folder in (".", "distill", "round1/audit"):
            (run.dir / folder / "manifest.json").unlink()
        server.reset_counts()
        again = run_configured(make_cfg(*args, "resume=true"), run.dir)
        assert server.requests == 0 and sent > 0
        assert again.metrics["rounds"] == run.metrics["rounds"]
        assert json.loads((run.dir / "round1/audit/manifest.json").read_text())["status"] == "ok"


def test_teacher_and_judge_under_20pct_faults_lose_nothing_and_a_rerun_repeats_no_finished_call(
    make_cfg, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(fault_rate=0.2, fail_first=3, slow_seconds=0.05, seed=3) as server:
        args = [*QUICK, *calls(tmp_path), *teacher_and_judge(server)]
        first = run_configured(make_cfg("stage=distill", *args), tmp_path / "distill")
        assert sum(server.faults_injected.values()) >= 3
        m = first.metrics
        assert m["kept"] + m["dropped"] == m["asked"] == 12 and m["drops"]["call_failed"] == 0
        kept = read_jsonl(first.dir / "targets.jsonl")
        assert len(read_jsonl(first.dir / "dataset.jsonl")) == len(kept) >= 6

        server.fault_rate = 0.0
        server.reset_counts()
        again = run_configured(make_cfg("stage=distill", *args), tmp_path / "distill_again")
        assert server.requests == 0
        assert read_jsonl(again.dir / "targets.jsonl") == kept

        server.fault_rate = 0.2
        server.reset_counts()
        models = "audit.models=[{name: M0, kind: local, path: null}, {name: M1, kind: local, path: null}]"
        audited = run_configured(make_cfg("stage=audit", models, *args), tmp_path / "audit")
        result = summary(audited.dir)
        assert result["n"] == 8 and result["judge_invalid"] == sum(
            r["status"] == "judge_invalid" for r in read_jsonl(audited.dir / "scored.jsonl")
        )
        server.fault_rate = 0.0
        server.reset_counts()
        run_configured(make_cfg("stage=audit", models, *args), tmp_path / "audit_again")
        assert server.requests == result["judge_invalid"]  # only verdicts that never parsed are asked again


def test_a_judge_that_cannot_start_is_an_error_unless_told_to_continue(
    make_cfg, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    args = ["stage=audit", *QUICK, *calls(tmp_path), "audit.models=[{name: M0, kind: local, path: null}, {name: M1, kind: local, path: null}]",
            "audit.judge.mode=validate", "audit.judge.base_url=http://127.0.0.1:9/v1", "audit.judge.model=judge",
            "audit.judge.max_retries=0", "audit.judge.timeout=2"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"audit\.judge \(mode validate, model judge\) could not start"):
        run_configured(make_cfg(*args), tmp_path / "refused")
    run = run_configured(
        make_cfg(*args, "audit.judge.on_unavailable=classifiers_only"), tmp_path / "continued"
    )
    assert summary(run.dir)["judge_status"].startswith("UNAVAILABLE, classifiers only")
    assert "UNAVAILABLE" in (run.dir / "report.md").read_text()


def test_distill_dry_run_sends_nothing(make_cfg, tmp_path: Path, capsys) -> None:
    run = run_configured(make_cfg("stage=distill", "teacher=litellm", "distill.dry_run=true", "dart_tasks.max_train=10"),
                         tmp_path / "dry")  # fmt: skip
    assert "distill.dry_run: nothing sent" in capsys.readouterr().out
    [estimate] = run.metrics["estimate"]
    assert (
        estimate["calls"] == 10
        and estimate["completion_tokens"] == 10 * 512
        and estimate["max_format_fix_calls"] == 20
    )
    assert not (run.dir / "targets.jsonl").exists()


def test_sigkill_during_distill_then_a_rerun_repeats_no_finished_teacher_call(
    make_cfg, tmp_path: Path, monkeypatch
) -> None:
    """The teacher answers one call at a time, slowly; a forked distill run is SIGKILLed once three answers
    are in the call cache. The rerun serves exactly those from the cache and sends only the rest."""
    import multiprocessing
    import os
    import signal
    import time

    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    cache = tmp_path / "calls" / "calls.jsonl"
    with JudgeServer(latency=0.2) as server:
        args = ["stage=distill", "dart_tasks.max_train=10", *teacher_and_judge(server), "teacher.concurrency=1",
                f"distill.cache_dir={cache.parent}"]  # fmt: skip
        # forked, so the child starts with this process's imports (litellm's alone take seconds)
        import_litellm()
        child = multiprocessing.get_context("fork").Process(
            target=run_configured, args=(make_cfg(*args), tmp_path / "killed")
        )
        child.start()
        deadline = time.monotonic() + 120
        while not (cache.is_file() and cache.read_bytes().count(b"\n") >= 3) and child.is_alive():
            assert time.monotonic() < deadline, "the teacher never answered three calls"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        finished = cache.read_bytes().count(
            b"\n"
        )  # complete lines only: a cut-off last line is not a finished call
        before = server.requests
        rerun = run_configured(make_cfg(*args), tmp_path / "rerun")
        usage = rerun.metrics["usage"]
        assert usage["cached_calls"] == finished >= 3 and usage["new_calls"] == usage["calls"] - finished > 0
        assert server.requests - before == usage["new_calls"]
        assert rerun.metrics["kept"] + rerun.metrics["dropped"] == 10
