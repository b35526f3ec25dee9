"""Multi-process runs (`accelerate launch`, `torchrun`): one run folder, rank 0 writes the evidence.

    torchrun --nproc_per_node 2 -m demalign.run stage=train train.dataset=... +trainer.use_cpu=true
    accelerate launch --config_file launch/accelerate/zero3.yaml -m demalign.run stage=train ...

Every rank runs the whole program (each must take part in training), but:

- **One run folder.** Hydra resolves `hydra.run.dir` (`.../${now:...}`) in every process, so each rank would
  get its own timestamp. The Hydra callback `SharedRunDir` (registered in `conf/config.yaml`) runs before the
  folder is created: rank 0 resolves `hydra.run.dir` (or `hydra.sweep.dir` in a multirun) and publishes the
  path in the launcher's key-value store; every other rank reads it and uses it verbatim. The store is the
  TCPStore that torchrun / accelerate launch already serve at `MASTER_ADDR:MASTER_PORT` for their workers
  (`TORCHELASTIC_USE_AGENT_STORE=True`): a key lookup, no process group, so the Trainer still initialises
  torch.distributed exactly as it would without demalign. Without an agent store (e.g. env variables set by
  srun), rank 0 serves a multi-tenant TCPStore on that address, the way `init_process_group` itself does
  there, so the later process group reuses it. torch is imported only when WORLD_SIZE > 1.
- **Rank 0 writes.** `is_main_process()` (from `RANK` / `LOCAL_RANK`, no torch import) gates
  `artifacts.Run`'s writes and `execution.execute`'s report and manifest. Other ranks compute and write
  nothing; per-rank files (their own log) and the Trainer's own saving (main process only) are unaffected.
- **Stages in step.** After each `execute`, rank 0 publishes the stage's status once its manifest is written
  and the other ranks wait for it (`stage_barrier`), so no rank starts the next stage before rank 0's
  artifacts are complete, and a finished folder is never checked by a rank that did not write it.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback

from demalign.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

KEY_PREFIX = "demalign"
STORE_TIMEOUT = timedelta(minutes=30)  # connecting, and waiting for rank 0's run folder
_store: Any = None
_barrier_seq = itertools.count()


def _env_int(*names: str, default: int) -> int:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return default


def rank() -> int:
    """This process's global rank (`RANK`, else `LOCAL_RANK`, else 0)."""
    return _env_int("RANK", "LOCAL_RANK", default=0)


def world_size() -> int:
    return _env_int("WORLD_SIZE", default=1)


def is_main_process() -> bool:
    """True on rank 0 and in single-process runs: the process that writes run artifacts."""
    return rank() == 0


def _launch_key(*parts: object) -> str:
    # A torchrun restart reuses the agent's store: keep each attempt's keys apart.
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return "/".join([KEY_PREFIX, restart, *map(str, parts)])


def store() -> Any:
    """The launcher's key-value store (a TCPStore client; served by rank 0 without an agent store)."""
    global _store
    if _store is None:
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
        if missing:
            raise ConfigError(
                f"WORLD_SIZE={world_size()} but {' and '.join(missing)} not set: start multi-process runs with "
                "torchrun or accelerate launch, or pass hydra.run.dir=<one folder for all ranks>"
            )
        from torch.distributed import TCPStore

        agent_store = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
        _store = TCPStore(
            host_name=os.environ["MASTER_ADDR"],
            port=int(os.environ["MASTER_PORT"]),
            world_size=world_size(),
            is_master=not agent_store and is_main_process(),
            timeout=STORE_TIMEOUT,
            multi_tenant=not agent_store,  # init_process_group reuses the server in rank 0
        )
    return _store


def share(name: str, value: str) -> str:
    """Rank 0's `value` on every rank (the rank-0 value is published under `name`); single process: `value`."""
    if world_size() <= 1:
        return value
    key = _launch_key(name)
    if is_main_process():
        store().set(key, value)
        return value
    return store().get(key).decode()


def stage_barrier(status: str) -> str:
    """Call on every rank after each stage: rank 0 publishes its status (after writing the manifest),
    the others wait for it. Returns rank 0's status; a no-op in a single process."""
    if world_size() <= 1:
        return status
    key = _launch_key("stage", next(_barrier_seq))
    if is_main_process():
        store().set(key, status)
        return status
    client = store()
    while not client.check([key]):  # no deadline: if rank 0 dies, the launcher stops this process
        time.sleep(0.2)
    return client.get(key).decode()


class SharedRunDir(Callback):
    """Hydra callback: under a multi-process launcher every rank uses rank 0's run (or sweep) folder."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _share_folder(config, "run")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _share_folder(config, "sweep")


def _share_folder(config: DictConfig, mode: str) -> None:
    if world_size() <= 1:
        return
    from omegaconf import open_dict, read_write

    node = config.hydra[mode]
    folder = share(f"hydra.{mode}.dir", str(node.dir))  # rank 0 resolves ${now:...} once
    with read_write(node), open_dict(node):
        node.dir = folder
