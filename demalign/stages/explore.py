"""How many participants fall in each category of the requested survey columns.

    demalign stage=explore explore.columns=[study_locale,gender,age,ethnicity.categorised]

Writes `categories.csv` and `categories.md`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.prism.loading import load_configured
from demalign.prism.summary import category_counts
from demalign.reports import markdown_table
from demalign.stages import NoInputs

log = logging.getLogger(__name__)

OPTIONS = "explore"
SHARED = ("data",)


Inputs = NoInputs  # the survey comes from the `data` group


@dataclass(frozen=True)
class Outputs:
    categories: Path

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(categories=Path(folder) / "categories.csv")


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    data = load_configured(env.data)
    for path in data.files:
        run.record_input(path)
    survey = data.survey
    if opts.locale_filter is not None:
        survey = survey[survey["study_locale"] == opts.locale_filter]

    counts = category_counts(survey, list(opts.columns))

    table = markdown_table(counts)
    print(counts.to_string(index=False))
    run.write_text("categories.csv", counts.to_csv(index=False))
    run.write_text("categories.md", table)
    run.metrics.update(participants=len(survey), columns=len(opts.columns))
    where = f" in study_locale {opts.locale_filter}" if opts.locale_filter else ""
    run.section("Survey categories", f"{len(survey)} participants{where}.\n\n{table}")
    return Outputs.in_folder(run.dir)
