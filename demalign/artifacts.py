"""Run folders, atomic writes, JSONL with file:line errors, and the manifest.

Every artifact is written to a temporary file in the same folder and renamed into place, so a
crashed run never leaves a half-written file that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demalign.distributed import is_main_process
from demalign.errors import ArtifactExistsError, DataError

MANIFEST = "manifest.json"
REPORT = "report.md"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temp file beside `path`; rename it onto `path` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def build_directory(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, built once by `build(staging)` into a temporary sibling folder that is renamed into
    place, so a crashed build never leaves a half-written folder that a later run trusts. A folder
    is complete when it holds `config.json` (what `from_pretrained` reads); when another process
    renamed its identical build into place first, theirs is kept."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "config.json").exists():
                raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
    return target


def dumps_line(row: Any) -> str:
    """One canonical JSON line: same object, same bytes."""
    return json.dumps(row, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def write_jsonl(path: Path, rows: Iterable[Any]) -> int:
    """Atomically write rows as JSON lines; returns the number of rows."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(dumps_line(row))
            handle.write("\n")
            count += 1
    return count


def write_json(path: Path, obj: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=2, default=str)
        handle.write("\n")


def write_text(path: Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def iter_jsonl(path: Path, required: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL file; a malformed line or a missing required field raises a
    DataError naming the file and line. Blank lines are skipped."""
    for _, row in numbered_jsonl(path, required):
        yield row


def numbered_jsonl(path: Path, required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """`iter_jsonl` with each object's line number in the file (blank lines counted), so callers'
    own checks can name the right line."""
    path = Path(path)
    required = tuple(required)
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{path}:{lineno}: malformed JSON ({err.msg} at column {err.colno})"
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            if required and not all(name in row for name in required):
                missing = [name for name in required if name not in row]
                raise DataError(
                    f"{path}:{lineno}: missing required field(s) {', '.join(missing)} "
                    f"(present: {', '.join(sorted(row))})"
                )
            yield lineno, row


def read_jsonl(path: Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    return list(iter_jsonl(path, required))


@dataclass
class Run:
    """One stage's run folder: where it writes, and what it records for the manifest.

    Stages write through these methods so that every output is atomic, hashed and listed in
    `manifest.json`, and every input is hashed. A folder whose manifest says `ok` is finished:
    writing into it again is refused.

    Under a multi-process launcher only rank 0 (`main`) writes and hashes; the other ranks' write methods
    return the path without touching the folder (see `demalign.distributed`).
    """

    dir: Path
    stage: str
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)  # the command-line overrides of this run
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown) for report.md
    resume: bool = False  # pick up this folder's unfinished work (e.g. training checkpoints)
    main: bool = field(default_factory=is_main_process)  # rank 0: the process that writes (distributed.py)

    def __post_init__(self) -> None:
        self.dir = Path(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.main:  # rank 0 owns the folder and its manifest; it may already have finished
            return
        manifest = self.dir / MANIFEST
        if manifest.exists():
            try:
                status = json.loads(manifest.read_text()).get("status")
            except json.JSONDecodeError:
                status = None
            if status == "ok":
                raise ArtifactExistsError(
                    f"{self.dir} holds a finished run (manifest.json status ok); "
                    "choose a new hydra.run.dir instead of overwriting its artifacts"
                )

    def section(self, title: str, body: str) -> None:
        """Add a report section; `execute` and recipes own the headings, so `body` has none of its
        own above `###`."""
        self.sections.append((title, body.strip() + "\n"))

    def path(self, name: str) -> Path:
        """Absolute path of an artifact inside the run folder (parents created)."""
        target = self.dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record_input(self, path: Path | str) -> Path:
        """Hash an input file (or every file under an input folder) for the manifest."""
        path = Path(path)
        if not self.main:
            return path
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            self.inputs[str(file.resolve())] = sha256_file(file)
        return path

    def record_output(self, name: str) -> Path:
        """Hash an artifact written by other code (e.g. a checkpoint folder) for the manifest."""
        target = self.dir / name
        if not self.main:
            return target
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for file in files:
            self.outputs[str(file.relative_to(self.dir))] = sha256_file(file)
        return target

    def write_jsonl(self, name: str, rows: Iterable[Any]) -> Path:
        target = self.path(name)
        if not self.main:
            return target
        write_jsonl(target, rows)
        return self.record_output(name)

    def write_json(self, name: str, obj: Any) -> Path:
        target = self.path(name)
        if not self.main:
            return target
        write_json(target, obj)
        return self.record_output(name)

    def write_text(self, name: str, text: str) -> Path:
        target = self.path(name)
        if not self.main:
            return target
        write_text(target, text)
        return self.record_output(name)

    def write_bytes(self, name: str, data: bytes) -> Path:
        target = self.path(name)
        if not self.main:
            return target
        with atomic_open(target, "wb") as handle:
            handle.write(data)
        return self.record_output(name)
