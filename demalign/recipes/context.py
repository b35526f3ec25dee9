"""RecipeContext: one recipe's run folder, and `stage()` to run each step of it in a sub-folder.

    opts = ctx.options("dataset", max_pairs=500)
    data = ctx.stage(prepare, opts, prepare.Inputs(), folder="soft/prepare", env=ctx.env(prepare, dataset_mode={"name": "soft"}))
    trained = ctx.stage(train, ctx.options("train"), train.Inputs(dataset=data.dataset), folder="soft/train")

Each step is an ordinary stage run (its own manifest.json and report.md); its metrics, files and
report sections are folded into the recipe's. With `resume=true` a step whose folder holds an `ok`
manifest with the same config hash, unchanged input files and intact output files is reused, not
rerun; an unfinished step runs again in the same folder (training picks up its last checkpoint); a
finished step that no longer matches is an error, since a finished folder is never overwritten.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from demalign import console
from demalign.artifacts import MANIFEST, REPORT, Run, sha256_file
from demalign.errors import ArtifactExistsError
from demalign.execution import config_hash
from demalign.stages import run_stage, stage_env, stage_options, stage_record

log = logging.getLogger(__name__)


def nest_section(body: str, folder: str) -> str:
    """A sub-run's section body inside the recipe's report: headings one level deeper, relative
    links (plots, files) pointing into the sub-run's folder."""
    body = re.sub(r"^(#+) ", r"#\1 ", body, flags=re.MULTILINE)
    return re.sub(r"\]\((?!https?://|/|#)([^)]+)\)", rf"]({folder}/\1)", body)


def nested_report(label: str, folder: str, sections: list[list[str]]) -> str:
    """Every section of a sub-run under `### <title>`, so no sub-report loses content."""
    parts = [f"Folder: [`{folder}/`]({folder}/{REPORT})\n"]
    parts += [f"### {title}\n\n{nest_section(body, folder)}" for title, body in sections]
    return "\n".join(parts)


def unchanged(recorded: dict[str, str], base: Path | None = None) -> bool:
    """Every recorded file still exists with the recorded sha256."""
    for name, digest in recorded.items():
        path = base / name if base is not None else Path(name)
        if not path.is_file() or sha256_file(path) != digest:
            return False
    return True


@dataclass
class RecipeContext:
    cfg: DictConfig  # the whole composed config: recipes pick stage options and shared groups from it
    run: Run  # the recipe's own run folder
    resume: bool = False
    steps: list[tuple[str, str, str]] = field(default_factory=list)  # (label, folder, status)
    headlines: list[tuple[str, str]] = field(default_factory=list)  # report sections above the steps

    def options(self, key: str, **changes: Any) -> DictConfig:
        """A stage's options node (resolved copy), with `changes` applied for this step only."""
        opts = stage_options(self.cfg, key)
        with open_dict(opts):
            for name, value in changes.items():
                opts[name] = value
        return opts

    def env(self, module: ModuleType, **groups: Any) -> DictConfig:
        """The shared groups `module` reads, with some replaced or merged for this step."""
        env = stage_env(self.cfg, module)
        with open_dict(env):
            for name, value in groups.items():
                env[name] = OmegaConf.merge(env[name], value) if isinstance(value, dict) else value
        return env

    def stage(
        self,
        module: ModuleType,
        opts: DictConfig,
        inputs: Any,
        folder: str,
        env: DictConfig | None = None,
        label: str | None = None,
    ) -> Any:
        """Run (or, on resume, reuse) one step in `<run>/<folder>`; returns the stage's `Outputs`."""
        env = env if env is not None else self.env(module)
        label = label or console.step_label(folder, module.__name__.rsplit(".", 1)[-1])
        path = self.run.dir / folder
        log.info("%s: running in %s", label, path)
        manifest = self._reusable(module, opts, env, inputs, path)
        if manifest is not None:
            outputs, status = module.Outputs.in_folder(path), console.REUSED
            console.stage_finished(console.stage_started(path, manifest["stage"]), status)
        else:
            _, outputs = run_stage(module, opts, env, inputs, path, self.run.overrides, self.resume)
            manifest, status = json.loads((path / MANIFEST).read_text(encoding="utf-8")), "done"
        self._fold(label, folder, manifest)
        self.steps.append((label, folder, status))
        return outputs

    def plan(self, steps: int) -> None:
        """Say how many steps follow, so the console numbers them `[i/steps]`."""
        console.plan(steps)

    def headline(self, title: str, body: str) -> None:
        """A section at the top of the recipe's report (e.g. the leaderboard), printed on the console."""
        if self.run.main:
            print(f"{title}\n{body}", flush=True)
        self.headlines.append((title, f"```\n{body}\n```\n"))

    def finish(self) -> None:
        """Order the report: headlines, the list of steps, then every step's sections."""
        contents = "\n".join(
            f"- [{label}]({folder}/{REPORT}): {status}" for label, folder, status in self.steps
        )
        self.run.sections[:0] = [*self.headlines, ("Steps, in order", contents + "\n")]

    def _reusable(
        self, module: ModuleType, opts: DictConfig, env: DictConfig, inputs: Any, path: Path
    ) -> dict[str, Any] | None:
        if not self.resume or not (path / MANIFEST).is_file():
            return None
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cut off mid-write: unfinished, so it runs again
        if manifest.get("status") != "ok":
            return None
        why_not = (
            "its config differs from this run's" if manifest.get("config_hash") != config_hash(stage_record(module, opts, env, inputs))
            else "an input file changed" if not unchanged(manifest.get("inputs", {}))
            else "an output file is missing or changed" if not unchanged(manifest.get("outputs", {}), path)
            else None
        )  # fmt: skip
        if why_not:
            raise ArtifactExistsError(
                f"resume: {path} holds a finished step but {why_not}; a finished step is never overwritten. "
                "Start a new run (resume=false), or delete that folder to have it rerun."
            )
        return manifest

    def _fold(self, label: str, folder: str, manifest: dict[str, Any]) -> None:
        self.run.inputs.update(manifest.get("inputs", {}))
        self.run.outputs.update({f"{folder}/{k}": v for k, v in manifest.get("outputs", {}).items()})
        self.run.metrics[label] = manifest.get("metrics", {})
        self.run.section(label, nested_report(label, folder, manifest.get("report_sections", [])))
