"""PRISM interactions -> `dataset.jsonl` preference pairs for one dataset mode.

    demalign stage=prepare dataset_mode=full                 # every participant
    demalign stage=prepare dataset_mode=us_rep               # PRISM's US-representative sample
    demalign stage=prepare dataset_mode=hard panel=us        # one sortition panel
    demalign stage=prepare dataset_mode=soft panel=us        # everyone, weighted by selection probability

Options come from the `dataset` group; hard and soft also write `panel.json` and `panel_report.*`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from demalign.artifacts import Run
from demalign.config import check_complete
from demalign.config.schema import PanelConf
from demalign.preferences.dataset import DatasetMode, dataset_rows, uniform_weights
from demalign.preferences.pairs import Context, PairStrategy, PromptFormat, build_pairs, parse_option
from demalign.prism.loading import load_configured
from demalign.reports import markdown_table, save_figure
from demalign.stages import NoInputs

log = logging.getLogger(__name__)

OPTIONS = "dataset"
SHARED = ("data", "panel", "dataset_mode")
DATASET = "dataset.jsonl"


Inputs = NoInputs  # participants and interactions come from the `data` group


@dataclass(frozen=True)
class Outputs:
    dataset: Path  # dataset.jsonl: prompt, chosen, rejected, user_id, interaction_id, weight

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(dataset=Path(folder) / DATASET)


def _panel_weights(mode: DatasetMode, survey, panel_cfg: DictConfig, run: Run) -> dict[str, float]:
    """Weights from a sortition panel (hard: members at 1.0; soft: selection probabilities > 0),
    with panel.json / panel_report.* written and a report section added."""
    from demalign import panels

    hint = (
        "a panel spec starts with `defaults: [/schema/panel@_here_, /panel_mechanics/default@_here_, _self_]`"
    )
    check_complete(panel_cfg, PanelConf, "panel", hint)  # no key left to a library default (seed 0, ...)
    spec = OmegaConf.to_container(panel_cfg, resolve=True, throw_on_missing=True)
    result = (
        panels.select_panel(survey, spec)
        if mode is DatasetMode.HARD
        else panels.selection_probabilities(survey, spec)
    )
    run.seeds["panel.seed"] = int(spec["seed"])
    run.write_json("panel.json", panels.panel_json(result))
    pool = panels.build_quotas(spec, survey)[1]  # after the locale filter: the pool quotas apply to
    frame = panels.panel_report_frame(pool, result.quotas, result)
    run.write_text("panel_report.csv", frame.to_csv(index=False))
    plot = save_figure(run, "panel_report.png", panels.plot_panel_report(frame))
    if mode is DatasetMode.HARD:
        weights = {user: 1.0 for user in result.selected}
    else:
        weights = {user: p for user, p in result.probabilities.items() if p > 0}
        run.metrics["users_with_zero_probability"] = len(result.probabilities) - len(weights)
        if result.std_error:
            run.metrics["max_monte_carlo_std_error"] = max(result.std_error.values())
    run.metrics["panel_committees"] = result.committees
    proof = ""
    if result.certificate is not None:
        run.metrics["leximin_certificate"] = result.certificate
        c = result.certificate
        proof = (
            f"LEXIMIN {'**certified exact**' if c['certified'] else '**not certified**'}: max |marginal − LP bound| = "
            f"{c['marginal_error']:.1e}, peeling residual {c['residual']:.1e}, {c['cuts']} cuts, path {c['path']}, "
            f"{c['panels_in_support']} panels in the support.\n\n"
        )
    run.section(f"Panel ({spec['algorithm']}, {mode.value})", f"{proof}{markdown_table(frame)}\n{plot}")
    return weights


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    mode = parse_option(DatasetMode, env.dataset_mode.name, "dataset_mode.name")
    strategy = parse_option(PairStrategy, opts.pairs, "dataset.pairs")
    prompt_format = parse_option(PromptFormat, opts.format, "dataset.format")
    context = parse_option(Context, opts.context, "dataset.context")

    data = load_configured(env.data)
    for path in data.files:
        run.record_input(path)

    if mode in (DatasetMode.HARD, DatasetMode.SOFT):
        weights = _panel_weights(mode, data.survey, env.panel, run)
    else:
        weights = uniform_weights(data.survey, mode)
    utterances = data.utterances[data.utterances["user_id"].isin(weights)]
    pairs, stats = build_pairs(utterances, strategy)
    if opts.max_pairs is not None and len(pairs) > opts.max_pairs:
        keep = np.sort(np.random.default_rng(env.seed).choice(len(pairs), opts.max_pairs, replace=False))
        stats.dropped["over dataset.max_pairs (pairs)"] = len(pairs) - len(keep)
        pairs = [pairs[i] for i in keep]
        run.seeds["dataset.max_pairs"] = int(env.seed)

    rows = dataset_rows(pairs, weights, utterances, prompt_format, context, opts.system_prompt)
    run.write_jsonl(DATASET, rows)

    users_with_pairs = len({pair.user_id for pair in pairs})
    run.metrics.update(
        mode=mode.value,
        users_selected=len(weights),
        users_with_pairs=users_with_pairs,
        interactions=stats.interactions,
        pairs=len(pairs),
        dropped={reason: int(n) for reason, n in sorted(stats.dropped.items())},
    )
    counts = [
        {"what": "participants in the data", "count": len(data.survey)},
        {"what": f"participants kept by mode {mode.value}", "count": len(weights)},
        {"what": "kept participants with at least one pair", "count": users_with_pairs},
        {"what": "interactions of kept participants", "count": stats.interactions},
        {"what": "preference pairs written", "count": len(pairs)},
    ] + [{"what": f"dropped: {reason}", "count": n} for reason, n in sorted(stats.dropped.items())]
    log.info("%s: %d pairs from %d users", mode.value, len(pairs), users_with_pairs)
    run.sections.insert(
        0,
        (f"Dataset `{mode.value}` ({strategy.value}, {prompt_format.value}, context {context.value})",
         markdown_table(counts)),
    )  # fmt: skip
    return Outputs.in_folder(run.dir)
