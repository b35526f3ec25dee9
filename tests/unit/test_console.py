"""Progress lines: numbered nested stages, an open line on a terminal closed by 'done in', verbose start lines;
which writes to stdout stay on the terminal in quiet mode."""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path

import pytest

from demalign import console


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch):
    """A fresh console state writing to a fake terminal; `make(quiet, tty)` sets it up."""

    def make(quiet: bool, tty: bool) -> Terminal:
        out = Terminal(tty)
        state = console._State(quiet=quiet, log_file=Path("run.log") if quiet else None)
        state.out = console._ConsoleStdout(out)
        monkeypatch.setattr(console, "_state", state)
        return out

    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return make


def pipeline(root: Path, fail_last: bool = False, chatter: str = "") -> None:
    top = console.stage_started(root, "pipeline")
    console.plan(2)
    first = console.stage_started(root / "soft" / "train", "train")
    if chatter:
        print(chatter, file=console._state.out)  # a stage's own print while the line is open
    console.stage_finished(first, "ok")
    last = console.stage_started(root / "rank", "rank")
    console.stage_finished(last, "failed" if fail_last else "ok")
    console.stage_finished(top, "failed" if fail_last else "ok")


def test_duration_examples() -> None:
    assert [console._duration(s) for s in (4.23, 41.6, 125)] == ["4.2 s", "42 s", "2 min 05 s"]


def test_quiet_without_a_terminal_prints_one_line_per_nested_stage(screen, tmp_path: Path) -> None:
    out = screen(quiet=True, tty=False)
    pipeline(tmp_path, fail_last=True)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("demalign pipeline: ") and lines[0].endswith("(details in run.log)")
    assert lines[1].startswith("[1/2] train (soft) … done in ")
    assert lines[2].startswith("[2/2] rank … failed after ") and lines[2].endswith("(see run.log)")
    assert len(lines) == 3  # the pipeline itself: its report path, printed by demalign.run


def test_on_a_terminal_the_line_stays_open_until_done(screen, tmp_path: Path) -> None:
    out = screen(quiet=True, tty=True)
    pipeline(tmp_path, chatter="a table")
    lines = re.sub(r"[^\n]*\r\x1b\[K", "", out.getvalue()).splitlines()  # as the terminal shows it
    assert lines[1] == "[1/2] train (soft) … " and lines[2] == "a table"  # the print ended the open line
    assert lines[3].startswith("[1/2] train (soft) … done in ")
    assert lines[4].startswith("[2/2] rank … done in ") and len(lines) == 5


def test_verbose_prints_a_start_and_an_end_line(screen, tmp_path: Path) -> None:
    out = screen(quiet=False, tty=True)
    top = console.stage_started(tmp_path, "train")
    console.stage_finished(top, "ok")
    lines = out.getvalue().splitlines()
    assert lines[0] == "train …" and lines[1].startswith("train … done in ")


def test_quiet_stdout_keeps_demalign_prints_and_sends_library_writes_to_stderr(screen, capsys) -> None:
    screen(quiet=True, tty=False)
    stdout = console._state.out
    print("ours", file=stdout)
    handler = logging.StreamHandler(stdout)  # a library's handler bound to sys.stdout, e.g. DeepSpeed's
    handler.emit(logging.makeLogRecord({"msg": "theirs"}))
    assert "theirs" in capsys.readouterr().err and "ours" in stdout._stream.getvalue()
    assert "theirs" not in stdout._stream.getvalue()


def test_session_restores_the_terminal(tmp_path: Path) -> None:
    stdout, handlers = sys.stdout, list(logging.getLogger().handlers)
    with pytest.raises(RuntimeError), console.session(tmp_path):
        assert console.is_quiet() and console.log_file() == tmp_path / "run.log"
        logging.getLogger("demalign.test").warning("into the file")
        raise RuntimeError("boom")
    assert sys.stdout is stdout and logging.getLogger().handlers == handlers and not console.is_quiet()
    text = (tmp_path / "run.log").read_text()
    assert "into the file" in text and "RuntimeError: boom" in text


def test_a_library_wrapper_around_stdout_write_does_not_hide_demalign_prints(screen, capsys) -> None:
    """wandb, once imported, wraps `sys.stdout.write`; a demalign print then reaches write through the
    wrapper's frame. The leaderboard used to vanish into the log this way."""
    out = screen(quiet=True, tty=False)
    wrapper_globals = {"__name__": "wandb.sdk.lib.console_capture"}
    exec("def write_with_callbacks(stream, text):\n    return stream.write(text)\n", wrapper_globals)
    wrapper_globals["write_with_callbacks"](console._state.out, "leaderboard\n")
    library_globals = {"__name__": "transformers.trainer"}
    exec("def log(stream, text):\n    return stream.write(text)\n", library_globals)
    library_globals["log"](console._state.out, "{'loss': 0.69}\n")
    assert out.getvalue() == "leaderboard\n"
    assert "{'loss': 0.69}" in capsys.readouterr().err
