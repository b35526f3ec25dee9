"""The append-only call cache: every finished answer is one JSONL line, written the moment it
arrives, so a run killed at any point resumes without repeating a finished call."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demalign.distributed import is_main_process
from demalign.errors import DataError

log = logging.getLogger(__name__)


class CallCache:
    """Append-only JSONL of finished calls: `{key, model, sample, text, prompt_tokens,
    completion_tokens, cost}` per line. The latest approved line for a key wins. A line cut short by
    a killed writer is removed on open, so the next append starts on a fresh line. `path=None` keeps
    the cache in memory only. Under a multi-process launch only rank 0 writes the file; the other ranks
    read it and keep their own answers in memory, so the file never gets two writers."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self.writer = is_main_process()
        self._records: dict[str, list[dict[str, Any]]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data) and self.writer:
            log.warning("%s: dropping a partial last line left by an interrupted run", self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for lineno, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = record["key"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DataError(
                    f"{self.path}:{lineno}: not a cache record; delete the line (or the file to start afresh)"
                ) from None
            self._records.setdefault(key, []).append(record)

    def __len__(self) -> int:
        return len(self._records)

    def lookup(self, key: str, accept: Callable[[str], bool]) -> dict[str, Any] | None:
        """The latest cached record for `key` whose text `accept` approves, or None."""
        for record in reversed(self._records.get(key, [])):
            if accept(record["text"]):
                return record
        return None

    def append(self, record: dict[str, Any]) -> None:
        self._records.setdefault(record["key"], []).append(record)
        if self.path is None or not self.writer:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        # One write per line on an O_APPEND file: a kill leaves at most one partial last line.
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
