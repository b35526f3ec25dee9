"""The one entry point: `demalign [stage=<name>] [group=option ...] [key=value ...]`.

Hydra composes the config and picks the run folder; `execute` runs the stage there and writes
`manifest.json` and `report.md` whatever happens. A DemalignError (bad input or config) is printed
without a traceback and exits non-zero; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from omegaconf.errors import MissingMandatoryValue

import demalign.config  # noqa: F401  (registers the config schemas before Hydra composes)
from demalign.artifacts import REPORT
from demalign.errors import DemalignError
from demalign.execution import PROJECT_ROOT, execute
from demalign.secrets import scrub_text

log = logging.getLogger("demalign")


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    try:
        run = execute(cfg, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task))
    except (DemalignError, MissingMandatoryValue) as err:
        if isinstance(err, MissingMandatoryValue):  # a `???` key read before it was set
            key = err.full_key
            err = DemalignError(f"missing mandatory config key {key} (set it on the command line: {key}=...)")
        log.error("%s", scrub_text(str(err)))
        print(f"demalign: error: {scrub_text(str(err))}", file=sys.stderr)
        sys.exit(1)
    print(f"{run.stage}: done. Report: {run.dir / REPORT}")


if __name__ == "__main__":
    main()
