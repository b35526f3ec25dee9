"""recipe=curate_sft: the hand-over between its steps, and against the loopback server (generator and
critic as API models) 20% faults lose nothing and a SIGKILL halfway then a resume repeats no finished call."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from demalign.artifacts import read_jsonl
from demalign.run import run_configured
from tests.judge_server import JudgeServer
from tests.recipes.test_panel_dpo import REPO, SHRUNK

QUICK = SHRUNK["curate_sft"]


def test_each_step_gets_the_files_of_the_one_before_and_the_verdict_is_paired(
    make_cfg, tmp_path: Path
) -> None:
    """4 prompts per bundled category: 3 train, 1 held out each. Candidates: N = 2 per training prompt,
    ids base/0 and base/1, completions only (the prompt never leaks into a candidate or an SFT target);
    every candidate is critiqued; SFT trains on select's rows; both models answer every held-out
    prompt once and compare pairs them by prompt."""
    run = run_configured(make_cfg("recipe=curate_sft", *QUICK), tmp_path / "run")
    train = read_jsonl(run.dir / "prompts" / "prompts" / "train.jsonl")
    held_out = read_jsonl(run.dir / "prompts" / "prompts" / "eval.jsonl")
    assert (len(train), len(held_out)) == (9, 3)
    assert not {r["id"] for r in train} & {r["id"] for r in held_out}

    candidates = read_jsonl(run.dir / "candidates" / "candidates.jsonl")
    assert [(c["prompt_id"], c["candidate_id"]) for c in candidates] == [
        (p["id"], f"base/{k}") for p in train for k in range(2)
    ]
    assert all(c["prompt"] not in c["candidate"] for c in candidates)  # the seed's prompt leak
    critiques = read_jsonl(run.dir / "critique" / "critiques.jsonl")
    assert [c["candidate_id"] for c in critiques] == [c["candidate_id"] for c in candidates]
    sft_rows = read_jsonl(run.dir / "select" / "sft" / "train.jsonl")
    texts = {(c["prompt"], c["candidate"]) for c in candidates}
    assert sft_rows and all(
        (row["prompt"][-1]["content"], row["completion"][-1]["content"]) in texts for row in sft_rows
    )
    sft_manifest = json.loads((run.dir / "sft" / "manifest.json").read_text())
    assert sft_manifest["stage_inputs"]["dataset"] == str(run.dir / "select" / "sft" / "train.jsonl")
    assert sft_manifest["stage_inputs"]["eval_dataset"] == str(run.dir / "select" / "sft" / "val.jsonl")
    assert sft_manifest["metrics"]["train_rows"] == len(sft_rows)  # select's val split is the eval split

    answers = read_jsonl(run.dir / "answers" / "candidates.jsonl")
    assert Counter(a["candidate_id"] for a in answers) == {"base/0": 3, "curated/0": 3}
    report = json.loads((run.dir / "compare" / "report.json").read_text())
    assert report["labels"] == {"a": "base", "b": "curated"} and report["scoring"] == "single"
    assert report["num_eval_prompts"] == 3 and report["num_pairs"] + report["num_excluded"] == 3
    top = (run.dir / "report.md").read_text()
    assert "## Verdict: curated vs base" in top and report["verdict"] in top


def test_curation_scores_each_model_on_its_one_answer_unless_best_of_n_is_asked(tmp_path: Path) -> None:
    """`single` refuses a model with several answers to a prompt; `best_of_n` takes the best valid
    one (the first on ties) and an all-invalid prompt stays None, never 1."""
    from demalign.curation.critiques import model_scores
    from demalign.errors import DataError

    def row(pid: str, cid: str, score: int | None) -> dict:
        return {"prompt_id": pid, "prompt": f"q {pid}", "candidate_id": cid, "candidate": f"a {cid}",
                "category": None, "score": score, "reason": "r", "valid": score is not None}  # fmt: skip

    rows = [row("p1", "m/0", 2), row("p1", "m/1", 5), row("p1", "m/2", 5), row("p2", "m/0", None),
            row("p2", "m/1", None), row("p1", "other/0", 1)]  # fmt: skip
    best = model_scores(rows, "m", "best_of_n")
    assert [(r["id"], r["score"], r["candidate_id"]) for r in best] == [("p1", 5, "m/1"), ("p2", None, "m/0")]
    with pytest.raises(DataError, match=r"compare\.scoring=single needs one answer per prompt"):
        model_scores(rows, "m", "single")
    assert [r["score"] for r in model_scores(rows, "other", "single")] == [1]
    with pytest.raises(
        DataError, match=r"no critiques of model 'absent'; the critiques hold models \['m', 'other'\]"
    ):
        model_scores(rows, "absent", "single")


def api_overrides(server: JudgeServer, cache: Path) -> list[str]:
    generator = (
        f"{{name: writer, kind: litellm, model: openai/scripted-writer, base_url: '{server.base_url}'}}"
    )
    return [
        *QUICK, "recipe=curate_sft", f"recipe.generator={generator}", "judge=litellm",
        "judge.model=openai/scripted-critic", f"judge.base_url={server.base_url}", "judge.max_backoff=0.05",
        "judge.max_retries=8", "generate.api.max_backoff=0.05", "generate.api.max_retries=8",
        f"paths.cache_dir={cache}", "recipe.num_gen_candidates=3",
    ]  # fmt: skip


def _demalign(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "demalign.run", *args], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def test_api_generator_and_critic_faults_lose_nothing_and_sigkill_resume_repeats_no_finished_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 20% faults (429, 500, slow, malformed) the recipe completes: N = 3 candidates of every
    training prompt (distinct draws: the writer is asked with seed, seed+1, seed+2), a critique row for
    each. Its requests hold D distinct calls. Then, faults off, a fresh cache: a run SIGKILLed once the
    server has seen D/2 requests leaves F finished calls in its cache; `resume=true` sends exactly D - F."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with JudgeServer(
        fault_rate=0.2, faults=("429", "500", "slow", "malformed"), slow_seconds=0.05, seed=3
    ) as server:
        faulty = run_configured(_cfg(api_overrides(server, tmp_path / "faulty_cache")), tmp_path / "faulty")
        assert sum(server.faults_injected.values()) > 0
        distinct = len(server.by_content)
        train = read_jsonl(faulty.dir / "prompts" / "prompts" / "train.jsonl")
        candidates = read_jsonl(faulty.dir / "candidates" / "candidates.jsonl")
        assert [(c["prompt_id"], c["candidate_id"]) for c in candidates] == [
            (p["id"], f"writer/{k}") for p in train for k in range(3)
        ]
        assert len(read_jsonl(faulty.dir / "critique" / "critiques.jsonl")) == len(candidates)
        assert json.loads((faulty.dir / "manifest.json").read_text())["status"] == "ok"

        server.fault_rate = 0.0
        server.reset_counts()
        killed = tmp_path / "outputs" / "curate_sft" / "2026-01-01_00-00-00_000000"
        args = [*api_overrides(server, tmp_path / "cache"), f"paths.output_dir={tmp_path / 'outputs'}"]
        child = _demalign([*args, f"hydra.run.dir={killed}"], cwd=tmp_path)
        deadline = time.monotonic() + 240
        while server.requests < distinct // 2 and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL and not (killed / "manifest.json").exists()
        finished = {
            json.loads(line)["key"]
            for line in (tmp_path / "cache" / "calls" / "calls.jsonl").read_text().splitlines()
            if line.endswith("}")
        }
        assert 0 < len(finished) < distinct

        server.reset_counts()
        resumed = _demalign([*args, "resume=true"], cwd=tmp_path)
        output = resumed.communicate(timeout=600)[0].decode()
        assert resumed.returncode == 0, output
        assert server.requests == distinct - len(finished)
        assert json.loads((killed / "manifest.json").read_text())["status"] == "ok"


def _cfg(overrides: list[str]):
    from tests.conftest import compose_config

    return compose_config(overrides)


def test_generate_takes_exactly_one_prompt_source_and_n_samples_need_sampling(
    make_cfg, tmp_path: Path
) -> None:
    """Neither or both of questions_dir / prompts_file is a one-line error naming both keys; N > 1
    greedy answers (one answer N times) is refused before any model loads; a dry run of P prompts x
    N samples x M models counts P*N calls per model and sends nothing."""
    from demalign.errors import ConfigError
    from demalign.stages import generate

    with pytest.raises(
        ConfigError, match=r"set exactly one of generate\.questions_dir .* and generate\.prompts_file"
    ):
        generate.Inputs(None, None, ())
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Question {i}?", "category": "c"}) + "\n"
                               for i in range(5)))  # fmt: skip
    models = (
        "generate.models=[{name: api, kind: litellm, model: openai/none, base_url: 'http://127.0.0.1:9'}]"
    )
    common = ["stage=generate", f"generate.prompts_file={prompts}", models, "generate.num_gen_candidates=3"]
    with pytest.raises(ConfigError, match=r"num_gen_candidates=3: .* needs generate.do_sample=true"):
        run_configured(make_cfg(*common), tmp_path / "greedy")
    dry = run_configured(
        make_cfg(*common, "generate.do_sample=true", "generate.dry_run=true"), tmp_path / "dry"
    )
    [estimate] = dry.metrics["estimate"]
    assert estimate["calls"] == 15 and estimate["completion_tokens"] == 15 * 256
