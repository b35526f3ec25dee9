"""The terminal: one line per stage; library chatter goes to the run's log file.

    demalign                   # quiet: a header, one line per stage, the leaderboard, the report path
    demalign verbose=true      # everything on the terminal as it comes: INFO logs, tqdm bars, warnings

`session(run_dir, verbose=...)` (entered once by `demalign.run` around the whole run) sets up quiet mode:

- Python logging keeps Hydra's file handler (`<run>/<job>.log`, i.e. `run.log`) and loses its console handler,
  so demalign's INFO lines and every library logger that propagates go to the file;
- Python warnings (FutureWarning, the pin_memory UserWarning, ...) are captured into logging, hence the file;
- file descriptor 2 points at the log file until the run ends: tqdm bars, transformers' own stderr handler,
  C-level warnings land there too, while an error message or a traceback after the run still reaches the
  terminal;
- stdout stays the terminal for demalign's own prints (explore's counts, the leaderboard), but a write to
  stdout from library code (a logging handler bound to sys.stdout such as DeepSpeed's, the Trainer's log
  dicts via tqdm.write) goes to the log file too;
- the libraries' own switches are set first (`QUIET_ENV`, and the loaded libraries' progress-bar switches),
  so most bars are never drawn; nothing heavy is imported here.

Ranks other than 0 of a multi-process run write both stdout and stderr to `<job>.rank<N>.log` and print
no progress lines. `execute` reports each stage with `stage_started` / `stage_finished`; a runner that knows
how many stages follow calls `plan(total)` to number them `[i/total]`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from demalign.distributed import is_main_process, rank
from demalign.errors import DemalignError
from demalign.secrets import scrub_text

# Read by the libraries when they are imported (tqdm reads TQDM_* then: bars without an explicit disable=).
QUIET_ENV = {
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}
OWN_PACKAGES = ("demalign", "tests")  # whose prints stay on the terminal in quiet mode
WRITE_WRAPPERS = ("wandb.sdk.lib.console_capture",)  # modules that wrap sys.stdout.write and call through
DEFAULT_LOG = "run.log"
REUSED = "reused"  # the status of a recipe step that resume took from an earlier run  # when Hydra's file handler is absent (hydra/job_logging=none)


@dataclass
class Frame:
    """One running stage, as `stage_started` saw it."""

    dir: Path
    stage: str
    label: str
    index: int | None  # position among the nested stages; None for the top-level run
    started: float = field(default_factory=time.monotonic)
    children: int = 0


@dataclass
class _State:
    quiet: bool = False
    log_file: Path | None = None
    total: int | None = None
    count: int = 0
    frames: list[Frame] = field(default_factory=list)
    pending: Frame | None = None  # a stage whose line is open on a terminal, awaiting "done in ..."
    out: _ConsoleStdout | None = None


_state = _State()


class _ConsoleStdout:
    """sys.stdout during a session. In quiet mode a write whose caller is not demalign's own code (a logging
    handler a library bound to stdout, tqdm.write, a library's print) goes to stderr, i.e. the log file; and
    any write while a progress line is open ends that line first."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if _state.quiet and not _from_demalign(sys._getframe(1)):
            return sys.stderr.write(text)
        if _state.pending is not None and text:
            _state.pending = None
            self._stream.write("\n")
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _from_demalign(frame: Any) -> bool:
    """Example: print() in demalign.stages.explore → True; logging.StreamHandler.emit, tqdm.write → False.
    Wrappers a library puts around `sys.stdout.write` (wandb, once imported) are looked through."""
    while frame is not None and frame.f_globals.get("__name__", "") in WRITE_WRAPPERS:
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    return module == "__main__" or module.split(".")[0] in OWN_PACKAGES


def is_quiet() -> bool:
    return _state.quiet


def log_file() -> Path | None:
    """The file quiet mode writes to (None outside a quiet session)."""
    return _state.log_file


def plan(total: int) -> None:
    """Number the nested stages that follow as `[i/total]`."""
    _state.total, _state.count = total, 0


# --- quiet mode -----------------------------------------------------------------------------------------


def _file_handlers(folder: Path) -> list[logging.FileHandler]:
    """The root logger's file handlers writing into `folder` (Hydra's job log is one)."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename).parent == folder.resolve()
    ]


def _log_path(run_dir: Path, main: bool) -> Path:
    """Hydra's job log (`<run>/<job>.log`) on rank 0, `<job>.rank<N>.log` on the others."""
    hydra_file = next((Path(h.baseFilename) for h in _file_handlers(run_dir)), None)
    if main:
        return hydra_file or run_dir / DEFAULT_LOG
    stem = hydra_file.stem if hydra_file else Path(DEFAULT_LOG).stem
    return run_dir / f"{stem}.rank{rank()}.log"


def _quiet_loaded_libraries() -> None:
    """Progress-bar switches of libraries imported before the session (env vars cover later imports)."""
    for module, function in (
        ("datasets", "disable_progress_bars"),
        ("huggingface_hub.utils", "disable_progress_bars"),
        ("transformers.utils.logging", "disable_progress_bar"),
    ):
        if module in sys.modules:
            getattr(sys.modules[module], function)()


def _is_terminal_handler(handler: logging.Handler) -> bool:
    streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in streams


@contextlib.contextmanager
def _logging_to(path: Path, main: bool) -> Iterator[None]:
    root = logging.getLogger()
    saved = list(root.handlers)
    removed = [h for h in saved if _is_terminal_handler(h)] + ([] if main else _file_handlers(path.parent))
    added: logging.Handler | None = None
    for handler in removed:
        root.removeHandler(handler)
    if not any(Path(h.baseFilename) == path.resolve() for h in _file_handlers(path.parent)):
        added = logging.FileHandler(path, encoding="utf-8")
        added.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        root.addHandler(added)
        root.setLevel(min(root.level or logging.INFO, logging.INFO))
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        if added is not None:
            root.removeHandler(added)
            added.close()
        for handler in removed:
            root.addHandler(handler)


@contextlib.contextmanager
def _fd_to(fd: int, path: Path, stream: TextIO) -> Iterator[None]:
    """Point file descriptor `fd` (whose Python stream is `stream`) at `path`, appending, until the block ends."""
    stream.flush()
    saved = os.dup(fd)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, fd)
    os.close(target)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            stream.flush()
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def session(run_dir: Path, *, verbose: bool = False) -> Iterator[None]:
    """Quiet mode for one run (see the module docstring); `verbose=True` leaves the terminal as it is."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    previous = _state.quiet, _state.log_file, _state.out, sys.stdout
    main = is_main_process()
    with contextlib.ExitStack() as stack:
        if not verbose:
            path = _log_path(run_dir, main)
            saved_env = {name: os.environ.get(name) for name in QUIET_ENV}
            os.environ.update({k: v for k, v in QUIET_ENV.items() if os.environ.get(k) is None})
            stack.callback(_restore_env, saved_env)
            _quiet_loaded_libraries()
            stack.enter_context(_logging_to(path, main))
            stack.enter_context(_fd_to(2, path, sys.stderr))
            if not main:
                stack.enter_context(_fd_to(1, path, sys.stdout))
            _state.quiet, _state.log_file = True, path
        _state.out = _ConsoleStdout(sys.stdout)
        sys.stdout = _state.out  # type: ignore[assignment]
        try:
            yield
        except BaseException as exc:  # into the log (the terminal too when verbose); the caller reports it
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                bug = not isinstance(exc, DemalignError)
                logging.getLogger("demalign").error("%s", scrub_text(str(exc)), exc_info=bug)
            raise
        finally:
            sys.stdout = previous[3]
            _state.quiet, _state.log_file, _state.out = previous[:3]
            _state.pending = None


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# --- progress lines -------------------------------------------------------------------------------------


def _emit(text: str, end: str = "\n") -> None:
    out = _state.out or sys.stdout
    stream = getattr(out, "_stream", out)  # our own writes do not close an open line
    stream.write(text + end)
    stream.flush()


def _duration(seconds: float) -> str:
    """Example: 4.23 → "4.2 s", 41.6 → "42 s", 125 → "2 min 05 s"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 100:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def _terminal() -> bool:
    out = _state.out or sys.stdout
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def step_label(folder: str, stage: str) -> str:
    """How a recipe step is named on the console and in reports: `hard/prepare` -> `prepare (hard)`,
    `candidates` (a generate step) -> `generate (candidates)`, `rank` -> `rank`."""
    where, _, name = folder.rpartition("/")
    if name != stage:
        return f"{stage} ({folder})"
    return f"{stage} ({where})" if where else stage


def stage_started(run_dir: Path, stage: str) -> Frame:
    """Called by `execute` as a stage starts; returns the frame to pass to `stage_finished`."""
    run_dir = Path(run_dir)
    parent = _state.frames[-1] if _state.frames else None
    if parent is None:
        frame = Frame(run_dir, stage, stage, None)
        if _state.quiet and is_main_process():
            shown = _state.log_file.name if _state.log_file else DEFAULT_LOG
            _emit(f"demalign {stage}: {_shown(run_dir)}  (details in {shown})")
    else:
        _state.count += 1
        parent.children += 1
        try:
            label = step_label(run_dir.relative_to(_state.frames[0].dir).as_posix(), stage)
        except ValueError:
            label = stage
        frame = Frame(run_dir, stage, label, _state.count)
    _state.frames.append(frame)
    if is_main_process():
        if _state.pending is not None and _terminal():  # the parent's open line: clear it
            _emit("\r\x1b[K", end="")
        _state.pending = None
        if not _state.quiet:
            _emit(f"{_prefix(frame)}{frame.label} …")
        elif _terminal():
            _emit(f"{_prefix(frame)}{frame.label} … ", end="")
            _state.pending = frame
    return frame


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _prefix(frame: Frame) -> str:
    if frame.index is None:
        return ""
    total = _state.total
    width = len(str(total)) if total else 1
    return f"[{frame.index:>{width}}/{total}] " if total else f"[{frame.index}] "


def stage_finished(frame: Frame, status: str) -> None:
    """Called by `execute` when the stage's manifest is written: prints its one line."""
    if frame in _state.frames:
        _state.frames.remove(frame)
    if not _state.frames:
        _state.total, _state.count = None, 0
    if not is_main_process() or (frame.index is None and frame.children):
        _state.pending = None
        return  # a runner's own line is the report path that demalign.run prints
    took = _duration(time.monotonic() - frame.started)
    outcome = {"ok": f"done in {took}", REUSED: "reused (finished earlier; resume=true)"}.get(
        status, f"{status} after {took}"
    )
    if status != "ok" and _state.log_file is not None:
        outcome += f" (see {_state.log_file})"
    if _state.pending is frame:
        _emit(outcome)
    else:
        _emit(f"{_prefix(frame)}{frame.label} … {outcome}")
    _state.pending = None
