"""The hf judge: a local transformers model judges with the same prompts and strict parsing as litellm."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from demalign.constitution.questions import Item
from demalign.judging.pairwise import pairwise_jobs, pairwise_rows, parse_pairwise
from demalign.llm.cache import CallCache
from demalign.llm.execute import execute, usage_summary
from demalign.llm.roles import judge_role
from demalign.training.tiny import ensure_tiny_model

CONF = str(Path(__file__).resolve().parents[2] / "conf")
MODELS = ["model-a", "model-b"]
ITEMS = [
    Item("c01_q00", 1, "Be honest about uncertainty.", "Will it rain in Paris next month?"),
    Item("c02_q00", 2, "Respect disagreement.", "Is pineapple on pizza acceptable?"),
]
RESPONSES = {
    "model-a": {
        "c01_q00": "Nobody can know that for sure.",
        "c02_q00": "Tastes differ; both views are fine.",
    },
    "model-b": {"c01_q00": "Yes, certainly.", "c02_q00": "No, never."},
}


def test_hf_judge_records_unparseable_verdicts_as_invalid_with_raw_text(tmp_path: Path) -> None:
    """A tiny random-weight model (the offline default, no warm-up) rarely writes [[A]], [[B]] or
    [[TIE]]. 2 questions × 1 pair × 2 orders × 2 judges = 8 judgements: each is `invalid` exactly when
    its raw text does not parse, keeps that raw text, and per row wins_i + wins_j + ties + invalid = 4
    (none dropped, none turned into a result). A rerun serves the valid ones from the cache and asks
    the invalid ones again."""
    tiny = ensure_tiny_model(tmp_path / "models")
    with initialize_config_dir(config_dir=CONF, version_base=None):
        cfg = compose(
            "config", overrides=["judge=hf", f"judge.name_or_path={tiny}", "judge.max_new_tokens=8"]
        )
    judge = judge_role(
        OmegaConf.to_container(cfg.judge, resolve=True), lambda: pytest.fail("base model built")
    )
    jobs = pairwise_jobs(ITEMS, MODELS, RESPONSES, 2, judge.identity)
    calls = [job.call for job in jobs]
    assert len(calls) == 8 and judge.identity.name.startswith("hf:")

    def accept(text: str) -> bool:
        return parse_pairwise(text) is not None

    cache = CallCache(tmp_path / "calls.jsonl")
    results = execute(calls, lambda: judge.backend, cache, judge.policy, accept)
    rows = pairwise_rows(jobs, results, RESPONSES)

    judgements = [j for row in rows for j in row["judgements"]]
    assert [j["raw"] for j in judgements] == [r.text for r in results]  # nothing lost, text kept verbatim
    for judgement in judgements:
        assert (judgement["verdict"] == "invalid") == (parse_pairwise(judgement["raw"]) is None)
    for row in rows:
        assert row["wins_i"] + row["wins_j"] + row["ties"] + row["invalid"] == 4
        assert row["judge_raw"] == [j["raw"] for j in row["judgements"]]
    invalid = sum(row["invalid"] for row in rows)
    usage = usage_summary(results)
    assert usage["invalid"] == invalid and usage["failed"] == 0 and usage["new_calls"] == 8
    assert usage["completion_tokens"] > 0 and usage["cost_total"] == 0.0  # local judging is free

    rerun = execute(calls, lambda: judge.backend, CallCache(tmp_path / "calls.jsonl"), judge.policy, accept)
    assert sum(r.cached for r in rerun) == 8 - invalid
    assert [r.text for r in rerun] == [r.text for r in results]  # greedy: the re-asked ones answer alike


def test_a_local_model_answer_is_the_completion_only(tmp_path: Path) -> None:
    """The curation seed decoded the whole sequence, so the prompt leaked into every candidate and
    from there into the SFT targets. An answer here is the decoded new tokens only: the prompt's
    unique marker never appears in it, and it equals the tail of the full decoded sequence."""
    from demalign.llm.calls import ChatCall
    from demalign.llm.local import TransformersBackend

    tiny = ensure_tiny_model(tmp_path / "models")
    backend = TransformersBackend(tiny, {"name": "tiny", "source": "tiny"}, None, 6, False, 1.0, 0)
    marker = "Zebra-quartz-marker-4242 explains the weather"
    [completion] = backend.complete_batch([ChatCall("local", [{"role": "user", "content": marker}])])
    assert "Zebra" not in completion.text and "quartz" not in completion.text
    assert 0 < completion.completion_tokens <= 6 and completion.prompt_tokens > 6


def test_n_sampled_candidates_of_a_prompt_are_independent_draws_and_reproducible(tmp_path: Path) -> None:
    """N candidates per prompt with batch size 1: each sample is its own batch. When every batch
    reseeded torch with the run's seed, all N were the same text; with a per-batch seed from the
    call keys they differ, and a fresh run with the same seed draws the same N texts."""
    from demalign.llm.calls import Identity
    from demalign.llm.local import TransformersBackend

    tiny = ensure_tiny_model(tmp_path / "models")
    settings = {"max_new_tokens": 6, "do_sample": True, "temperature": 1.5, "seed": 7}
    identity = Identity("local:tiny", settings)
    calls = [identity.call([{"role": "user", "content": "Name a colour."}], sample=k) for k in range(4)]

    def draw() -> list[str]:
        backend = TransformersBackend(tiny, {"name": "tiny", "source": "tiny"}, None, 6, True, 1.5, 7)
        return [backend.complete_batch([call])[0].text for call in calls]

    first = draw()
    assert len(set(first)) > 1
    assert draw() == first
