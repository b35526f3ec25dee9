"""The one entry point: `demalign [stage=<name>] [group=option ...] [key=value ...]`.

Hydra composes the config and picks the run folder; `execute` runs the stage there and writes
`manifest.json` and `report.md` whatever happens. A DemalignError (bad input or config) is printed
without a traceback and exits non-zero; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from demalign import console
from demalign.artifacts import REPORT
from demalign.distributed import is_main_process
from demalign.errors import DemalignError
from demalign.execution import PROJECT_ROOT, execute
from demalign.secrets import scrub_text


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        # quiet console (logs the error into the run's log): library output goes to <run>/<job>.log
        with console.session(run_dir, verbose=bool(cfg.get("verbose", False))):
            run = execute(cfg, run_dir, list(hydra_cfg.overrides.task))
    except DemalignError as err:
        print(f"demalign: error: {scrub_text(str(err))}", file=sys.stderr)
        sys.exit(1)
    if is_main_process():  # one report line for a multi-process run
        print(f"{run.stage}: done. Report: {run.dir / REPORT}")


if __name__ == "__main__":
    main()
