"""SL-CAI: the model critiques and revises its answers to red-team prompts by sampled principles -> SFT rows, DPO pairs.

    demalign stage=revise revise.rounds=2 revise.principle_sampling=without_replacement
    demalign stage=revise revise.generator.kind=litellm revise.generator.model=<id> revise.generator.base_url=<url>

Prompts: the `prompts` group (the bundled adversarial set by default, or hh-rlhf harmless-base),
its `revise.split` part, categories `revise.categories`. Principles: `constitution.principles`
(critique/revision pairs; few-shot chats as a prefix when `revise.few_shot`). One generator answers,
critiques and revises in one growing chat (`demalign.cai.revision`); every call goes through the
call cache in `revise.cache_dir` (concurrent for an API model, batched for a local one), so a
rerun, also after a kill, repeats no finished call. Writes `chains.jsonl` (every prompt, every
round, kept or why dropped), `sft.jsonl` (messages = prompt + final revision, optionally mixed with
a helpfulness set), `prefs.jsonl` (chosen = final revision, rejected = initial answer) from a seeded,
disjoint split of the kept prompts, `dropped.jsonl` and `usage.jsonl`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.cai.generator import generator_spec
from demalign.cai.revision import (
    DROP_REASONS,
    Chain,
    ReviseOptions,
    critic_drops,
    dpo_row,
    drop_counts,
    helpful_sample,
    run_chains,
    sft_row,
    split_prompts,
)
from demalign.constitution.principles import load_principles, principle_counts
from demalign.errors import ConfigError
from demalign.judging.pointwise import (
    PointwiseTarget,
    ScoreScale,
    critique_accept,
    pointwise_jobs,
    pointwise_rows,
)
from demalign.llm.cache import CallCache
from demalign.llm.calls import CallResult, ChatCall
from demalign.llm.execute import execute, usage_rows, usage_section, usage_summary
from demalign.llm.roles import judge_role, response_role
from demalign.reports import markdown_table

log = logging.getLogger(__name__)

OPTIONS = "revise"
SHARED = ("prompts", "constitution", "model", "judge")
FILES = {"chains": "chains.jsonl", "sft": "sft.jsonl", "prefs": "prefs.jsonl", "dropped": "dropped.jsonl",
         "usage": "usage.jsonl"}  # fmt: skip
SPLITS = ("train", "eval", "all")


@dataclass(frozen=True)
class Inputs:
    principles: Path | None  # the principle-pair file; None = the bundled set
    helpful_set: Path | None  # SFT rows {messages} mixed into sft.jsonl (revise.helpful_weight); None = none

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        path = env.constitution.principles
        return cls(
            Path(path).expanduser() if path else None, Path(opts.helpful_set) if opts.helpful_set else None
        )


@dataclass(frozen=True)
class Outputs:
    chains: Path  # one row per prompt: initial answer, every round, final revision, drop reason, split side
    sft: Path  # SFT rows {messages, prompt_id, source}
    prefs: Path  # DPO pairs {prompt, chosen, rejected, prompt_id, rounds}
    dropped: Path  # the chains left out, with the reason
    usage: Path

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{key: Path(folder) / name for key, name in FILES.items()})


def options_of(opts: DictConfig) -> ReviseOptions:
    return ReviseOptions(
        rounds=int(opts.rounds), sampling=str(opts.principle_sampling), fixed_principle=int(opts.fixed_principle),
        seed=int(opts.seed), few_shot=bool(opts.few_shot), system_prompt=opts.system_prompt,
        skip_if_no_critique=bool(opts.skip_if_no_critique),
        no_critique_phrases=tuple(str(p) for p in opts.no_critique_phrases),
    )  # fmt: skip


def red_team_prompts(opts: DictConfig, env: DictConfig, run: Run) -> list[tuple[str, str, str | None]]:
    """(id, text, category) of the prompts to revise: the prompts group, `revise.split`, `revise.categories`."""
    from demalign.promptsets import configured_part

    if opts.split not in SPLITS:
        raise ConfigError(f"revise.split={opts.split!r}; choose one of {list(SPLITS)}")
    rows, prompt_set = configured_part(env.prompts, str(opts.split), "revise.split")
    for path in prompt_set.files:
        run.record_input(path)
    wanted = None if opts.categories is None else {str(c) for c in opts.categories}
    rows = [r for r in rows if wanted is None or r.category in wanted]
    if opts.limit is not None:
        rows = rows[: int(opts.limit)]
    if not rows:
        raise ConfigError(
            f"revise: no prompts left from {prompt_set.source} (revise.split={opts.split}, "
            f"revise.categories={None if wanted is None else sorted(wanted)}); widen them"
        )
    return [(r.id, r.prompt, r.category) for r in rows]


def _critic_check(
    env: DictConfig,
    chains: list[Chain],
    principles: Any,
    base_model: Any,
    cache_: CallCache,
) -> tuple[dict[str, tuple[int | None, int | None]], list[ChatCall], list[CallResult]]:
    """The critic's (initial, final) scores of every chain still kept; the rubric is the chain's principles."""
    critic = judge_role(OmegaConf.to_container(env.judge), base_model)
    scale = ScoreScale()
    targets = []
    for chain in chains:
        rubric = " ".join(f"({n}) {principles.pairs[i].critic}" for n, i in enumerate(chain.plan, start=1))
        targets += [PointwiseTarget(chain.prompt_id, "initial", chain.prompt, chain.initial or "", rubric),
                    PointwiseTarget(chain.prompt_id, "revision", chain.prompt, chain.final or "", rubric)]  # fmt: skip
    jobs = pointwise_jobs(targets, critic.identity, 1, scale)
    calls = [job.call for job in jobs]
    results = execute(
        calls, lambda: critic.backend, cache_, critic.policy, critique_accept(scale), desc="critic check"
    )
    scores: dict[str, dict[str, int | None]] = {}
    for row in pointwise_rows(jobs, results, scale):
        scores.setdefault(row["item_id"], {})[row["response_id"]] = row["score"]
    return {pid: (s.get("initial"), s.get("revision")) for pid, s in scores.items()}, calls, results


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    options = options_of(opts)
    principles = load_principles(inputs.principles)
    run.record_input(principles.source)
    options.check(principles)
    run.seeds["revise.seed"] = options.seed
    prompts = red_team_prompts(opts, env, run)
    spec = generator_spec(OmegaConf.to_container(opts.generator))

    @cache
    def base_model() -> str:
        from demalign.training.models import resolve_name_or_path

        return resolve_name_or_path(env.model, env.paths.cache_dir)

    generation = {"max_new_tokens": int(opts.max_new_tokens), "do_sample": bool(opts.do_sample),
                  "temperature": float(opts.temperature), "top_p": float(opts.top_p), "seed": options.seed, "batch_size": int(opts.batch_size)}  # fmt: skip
    role = response_role(spec, generation, OmegaConf.to_container(opts.api), env.model, base_model)
    call_cache = CallCache(Path(opts.cache_dir) / "calls.jsonl")
    sent: list[tuple[str, list[ChatCall], list[CallResult]]] = []

    def answer(calls: list[ChatCall], step: str) -> list[CallResult]:
        results = execute(calls, lambda: role.backend, call_cache, role.policy, desc=step) if calls else []
        sent.append((step, calls, results))
        return results

    chains = run_chains(prompts, principles, options, role.identity, answer)
    reasons: dict[str, str | None] = {c.prompt_id: c.drop_reason() for c in chains}
    scores: dict[str, tuple[int | None, int | None]] = {}
    if opts.critic_check:
        kept = [c for c in chains if reasons[c.prompt_id] is None]
        scores, calls, results = _critic_check(env, kept, principles, base_model, call_cache)
        sent.append(("critic check", calls, results))
        reasons = critic_drops(reasons, scores)

    kept_ids = [c.prompt_id for c in chains if reasons[c.prompt_id] is None]
    sft_ids, pref_ids = split_prompts(kept_ids, float(opts.sft_share), options.seed)
    records = []
    for chain in chains:
        side = "sft" if chain.prompt_id in sft_ids else "prefs" if chain.prompt_id in pref_ids else None
        record = {**chain.record(), "dropped": reasons[chain.prompt_id], "split": side}
        if chain.prompt_id in scores:
            record["critic_scores"] = {
                "initial": scores[chain.prompt_id][0],
                "revision": scores[chain.prompt_id][1],
            }
        records.append(record)
    sft = [sft_row(c) for c in chains if c.prompt_id in sft_ids]
    prefs = [dpo_row(c) for c in chains if c.prompt_id in pref_ids]
    helpful: list[dict[str, Any]] = []
    if inputs.helpful_set is not None:
        from demalign.training.sft import MESSAGES, load_sft_rows

        rows, fmt = load_sft_rows(run.record_input(inputs.helpful_set))
        if fmt != MESSAGES:
            raise ConfigError(
                f"revise.helpful_set={inputs.helpful_set}: expected {{messages}} rows, got {fmt} rows"
            )
        helpful = helpful_sample(rows, float(opts.helpful_weight), options.seed)
    run.write_jsonl(FILES["chains"], records)
    run.write_jsonl(FILES["sft"], sft + helpful)
    run.write_jsonl(FILES["prefs"], prefs)
    run.write_jsonl(FILES["dropped"], [r for r in records if r["dropped"] is not None])
    usage_parts = [{"part": step, **usage_summary(results)} for step, _, results in sent if results]
    run.write_jsonl(
        FILES["usage"], [row for step, calls, results in sent for row in usage_rows(step, calls, results)]
    )

    dropped = drop_counts(list(reasons.values()))
    rounds_done = sum(len(c.rounds) for c in chains)
    skipped = sum(r.skipped for c in chains for r in c.rounds)
    used = [principles.pairs[r.principle].principle or "unlabelled" for c in chains for r in c.rounds]
    run.metrics.update(
        prompts=len(chains), kept=len(kept_ids), dropped=dropped, sft_rows=len(sft), pref_pairs=len(prefs),
        helpful_rows=len(helpful), rounds=options.rounds, rounds_run=rounds_done, rounds_skipped=skipped,
        principle_use={k: used.count(k) for k in principle_counts(principles)},
        usage={step: usage_summary(results) for step, _, results in sent if results},
    )  # fmt: skip
    run.section(
        "Critique and revision",
        f"Generator `{spec.name}` ({spec.kind}) answered {len(chains)} prompts, then ran {options.rounds} "
        f"critique → revision round(s) per prompt in one growing chat, each round revising the previous revision. "
        f"Principles: {len(principles.pairs)} pairs from `{principles.source}` ({principles.layout} layout), drawn "
        f"`{options.sampling}` (seed {options.seed}); few-shot prefix: "
        f"{f'{len(principles.few_shot)} chat(s)' if options.few_shot and principles.few_shot else 'none'}. "
        f"{skipped} of {rounds_done} rounds skipped (the critique said nothing needs changing"
        f"{'' if options.skip_if_no_critique else '; skipping is off'}). Every round is in `{FILES['chains']}`.",
    )
    run.section(
        "Kept and dropped",
        f"{len(kept_ids)} chains kept; split seeded (seed {options.seed}) and disjoint by prompt: {len(sft)} SFT rows "
        f"(share {opts.sft_share}), {len(prefs)} preference pairs (chosen = final revision, rejected = initial "
        f"answer){f', plus {len(helpful)} helpfulness rows (weight {opts.helpful_weight})' if helpful else ''}. "
        f"Dropped, in the order checked (each in `{FILES['dropped']}`):\n\n"
        + markdown_table([{"reason": r, "chains": dropped[r]} for r in DROP_REASONS])
        + ("\nCritic check: the judge group's critic scored initial answer and revision against the chain's "
           "principles; a revision scored lower, or a verdict that did not parse, drops the chain.\n"
           if opts.critic_check else ""),
    )  # fmt: skip
    run.section("Tokens and cost", usage_section(usage_parts))
    return Outputs.in_folder(run.dir)
