"""A prompt set split into training and held-out evaluation prompts: prompts/train.jsonl, prompts/eval.jsonl.

    demalign stage=prompts                                     # the bundled adversarial, borderline and cooperative sets
    demalign stage=prompts prompts=file prompts.path=my_prompts.csv prompts.eval_ratio=0.3
    demalign stage=prompts prompts=hh_rlhf                     # Anthropic/hh-rlhf harmless-base, first human turn

The `prompts` group says where the prompts come from (bundled, a JSONL/CSV file, a Hugging Face
dataset), which categories and how many; the split is seeded and stratified by category
(`demalign.promptsets`). Both files are `{id, prompt, category}` JSONL: what `generate.prompts_file` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from demalign.artifacts import Run
from demalign.promptsets import load_configured
from demalign.stages import NoInputs

OPTIONS = "prompts"
SHARED: tuple[str, ...] = ()

Inputs = NoInputs  # the prompts come from the `prompts` group


@dataclass(frozen=True)
class Outputs:
    train: Path  # prompts the workflow learns from (candidates, revisions, distillation)
    eval: Path  # held-out prompts the models are compared on

    @classmethod
    def in_folder(cls, folder: Path) -> Outputs:
        return cls(Path(folder) / "prompts" / "train.jsonl", Path(folder) / "prompts" / "eval.jsonl")


def run(opts: DictConfig, env: DictConfig, inputs: Inputs, run: Run) -> Outputs:
    prompt_set = load_configured(opts)
    for path in prompt_set.files:
        run.record_input(path)
    split = prompt_set.split(float(opts.eval_ratio), int(opts.seed))
    run.write_jsonl("prompts/train.jsonl", (row.to_dict() for row in split.train))
    run.write_jsonl("prompts/eval.jsonl", (row.to_dict() for row in split.eval))
    run.seeds["prompts.seed"] = int(opts.seed)
    run.metrics.update(prompts=len(prompt_set.rows), train=len(split.train), eval=len(split.eval))
    run.section("Prompts", f"{prompt_set.markdown()}\n{split.markdown()}")
    return Outputs.in_folder(run.dir)
