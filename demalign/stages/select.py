"""Curated training data from critiques: SFT rows, DPO pairs and KTO rows by policy best / margin / diverse.

    demalign stage=select select.critiques=<critique run>/critiques.jsonl select.policy=margin select.margin=2

Invalid critiques, self-contradicting ones (scored safe, reason says unsafe) and duplicate candidate
texts of a prompt are dropped before the policy chooses; every drop is listed in `dropped.jsonl`
and counted by reason in the metrics and report. The rules, tie-breaks and row formats are in
`demalign.curation.selection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.curation.critiques import load_critiques
from demalign.curation.selection import DROP_REASONS, SelectOptions, curate
from demalign.reports import markdown_table

OPTIONS = "select"
SHARED: tuple[str, ...] = ()
FILES = {
    "sft_train": "sft/train.jsonl",
    "sft_val": "sft/val.jsonl",
    "dpo_train": "dpo/train.jsonl",
    "dpo_val": "dpo/val.jsonl",
    "kto_train": "kto/train.jsonl",
    "kto_val": "kto/val.jsonl",
    "dropped": "dropped.jsonl",
}


@dataclass(frozen=True)
class Inputs:
    critiques: Path  # critiques.jsonl from the critique stage

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.critiques))


@dataclass(frozen=True)
class Outputs:
    sft_train: Path  # SFT rows (select.format), chosen candidates with score >= min_score
    sft_val: Path
    dpo_train: Path  # DPO pairs {prompt, chosen, rejected, margin, ...}
    dpo_val: Path
    kto_train: Path  # KTO rows {prompt, completion, label, ...}
    kto_val: Path
    dropped: Path  # every candidate left out, with the reason

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{field: Path(folder) / name for field, name in FILES.items()})


def options_of(opts: DictConfig) -> SelectOptions:
    return SelectOptions(
        policy=str(opts.policy), margin=int(opts.margin), top_k=int(opts.top_k), bottom_k=int(opts.bottom_k),
        min_score=None if opts.min_score is None else int(opts.min_score), format=str(opts.format),
        val_ratio=float(opts.val_ratio), seed=int(opts.seed),
    )  # fmt: skip


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    options = options_of(opts)
    rows = load_critiques(inputs.critiques)
    run.record_input(inputs.critiques)
    run.seeds["select.seed"] = options.seed
    curated = curate(rows, options)
    for kind in ("sft", "dpo", "kto"):
        train, val = getattr(curated, kind)
        run.write_jsonl(FILES[f"{kind}_train"], train)
        run.write_jsonl(FILES[f"{kind}_val"], val)
    run.write_jsonl(FILES["dropped"], curated.dropped)

    dropped = curated.dropped_counts()
    sizes = {kind: {"train": len(getattr(curated, kind)[0]), "val": len(getattr(curated, kind)[1])}
             for kind in ("sft", "dpo", "kto")}  # fmt: skip
    prompts = len({str(r["prompt_id"]) for r in rows})
    run.metrics.update(
        candidates=len(rows), prompts=prompts, prompts_selected=len(curated.choices),
        val_prompts=len(curated.val_prompts), dropped=dropped, skipped=curated.skipped, sizes=sizes,
    )  # fmt: skip
    run.section(
        "Selection",
        f"Policy `{options.policy}` on {len(rows)} critiques of {prompts} prompts from `{inputs.critiques}`: "
        f"{len(curated.choices)} prompts selected ({_policy_note(options)}); min_score {options.min_score} for SFT "
        f"rows and DPO chosen sides; KTO label = the critique's safe flag. Validation: {len(curated.val_prompts)} "
        f"prompt(s) (val_ratio {options.val_ratio}, seed {options.seed}); format `{options.format}`.\n\n"
        + markdown_table([{"output": kind, **size} for kind, size in sizes.items()]),
    )
    reasons = [{"candidates dropped because": reason, "count": dropped[reason]} for reason in DROP_REASONS]
    skipped = [{"output": kind, "skipped because": why, "count": n}
               for kind, counts in curated.skipped.items() for why, n in counts.items()]  # fmt: skip
    run.section(
        "Dropped",
        "In the order applied: invalid critique (never scored), self-contradiction (scored safe, reason says "
        "unsafe), duplicate text of the same prompt (first kept), then the policy's own. Each one is listed in "
        f"`{FILES['dropped']}`.\n\n{markdown_table(reasons)}"
        + (f"\nRows not written from selected candidates:\n\n{markdown_table(skipped)}" if skipped else ""),
    )
    return Outputs.in_folder(run.dir)


def _policy_note(options: SelectOptions) -> str:
    if options.policy == "margin":
        return f"best vs worst when the gap is >= {options.margin}"
    if options.policy == "diverse":
        return f"top {options.top_k} and bottom {options.bottom_k} per prompt"
    return "the highest score per prompt, ties to the first candidate; the lowest as the rejected side"
