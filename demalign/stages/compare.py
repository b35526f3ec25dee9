"""Is the fine-tuned model better than the baseline? Paired statistics over critic scores per prompt.

    demalign stage=compare compare.critiques=<critique run>/critiques.jsonl compare.baseline=base compare.candidate=curated
    demalign stage=compare ... compare.scoring=best_of_n      # the seed's optimistic best-of-N scoring, labelled so

Reads a critiques file holding both models' answers to the same held-out prompts (candidate ids
`<model>/<k>`, as generate writes them) and pairs them by prompt. A pair with an invalid verdict on
either side is excluded from every statistic and counted. Writes `paired_results.jsonl`,
`failures.jsonl` (the worse prompts, largest drop first), `report.json` (the seed's fields plus CIs,
tests and the verdict) and a plot of the per-prompt differences (`demalign.comparison`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.comparison import ComparisonOptions, compare, pair_items
from demalign.curation.critiques import load_critiques, model_scores
from demalign.errors import ConfigError
from demalign.reports import save_figure

OPTIONS = "compare"
SHARED: tuple[str, ...] = ()
FILES = {"paired": "paired_results.jsonl", "failures": "failures.jsonl", "report": "report.json"}


@dataclass(frozen=True)
class Inputs:
    critiques: Path  # critiques.jsonl with both models' answers (candidate ids <model>/<k>)

    @classmethod
    def from_config(cls, opts: DictConfig, env: DictConfig) -> Inputs:
        return cls(Path(opts.critiques))


@dataclass(frozen=True)
class Outputs:
    paired: Path  # one row per prompt: both sides' score, answer and reason, delta, outcome
    failures: Path  # the prompts where the candidate model scored worse
    report: Path  # report.json

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(**{key: Path(folder) / name for key, name in FILES.items()})


def options_of(opts: DictConfig) -> ComparisonOptions:
    if opts.baseline == opts.candidate:
        raise ConfigError(
            f"compare.baseline and compare.candidate are both {opts.baseline!r}; name two models"
        )
    return ComparisonOptions(
        label_a=str(opts.baseline), label_b=str(opts.candidate), higher_is_better=True,
        safe_threshold=None if opts.safe_threshold is None else float(opts.safe_threshold),
        tie_tolerance=float(opts.tie_tolerance), n_resamples=int(opts.n_resamples), level=float(opts.level),
        seed=int(opts.seed), zero_method=str(opts.zero_method), alpha=float(opts.alpha),  # type: ignore[arg-type]
    )  # fmt: skip


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    options = options_of(opts)
    critiques = load_critiques(inputs.critiques)
    run.record_input(inputs.critiques)
    run.seeds["compare.seed"] = int(opts.seed)
    sides = [model_scores(critiques, model, str(opts.scoring)) for model in (opts.baseline, opts.candidate)]
    items = pair_items(*sides, context_keys=("prompt", "category"))
    scoring = "best_of_n (best valid score of each model's N answers: optimistic)" if opts.scoring == "best_of_n" \
        else "single (each model's one answer per prompt)"  # fmt: skip
    report = compare(
        items, options, context={"scoring": str(opts.scoring), "critiques": str(inputs.critiques)}
    )
    run.write_jsonl(FILES["paired"], report.paired_rows())
    run.write_jsonl(FILES["failures"], report.failure_rows())
    run.write_json(FILES["report"], report.as_record())
    plot = save_figure(run, "score_deltas.png", report.plot_deltas())
    run.metrics.update(
        pairs=report.n_pairs, excluded=report.n_excluded, delta_mean=report.delta_mean, better=report.better,
        wilcoxon_p=report.wilcoxon.p_value, mcnemar_p=None if report.mcnemar is None else report.mcnemar.p_value,
    )  # fmt: skip
    run.section(
        f"Comparison: {opts.candidate} vs {opts.baseline}",
        f"Scoring: {scoring}; critic scores from `{inputs.critiques}`.\n\n**{report.verdict()}**\n\n"
        f"{report.markdown()}\n\n{plot}\n",
    )
    return Outputs.in_folder(run.dir)
