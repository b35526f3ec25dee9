"""Rank-0 writing under a multi-process launcher, from the launcher's environment variables; the run-folder
agreement and the stage barrier through a real TCPStore standing in for torchrun's agent store."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from demalign import distributed
from demalign.artifacts import MANIFEST, REPORT, Run
from demalign.run import run_configured


@pytest.fixture
def rank1(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process is rank 1 of 2 (as torchrun sets it)."""
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")


def test_rank_comes_from_the_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.rank(), distributed.world_size(), distributed.is_main_process()) == (0, 1, True)
    monkeypatch.setenv("LOCAL_RANK", "1")  # a launcher that sets only LOCAL_RANK
    assert distributed.rank() == 1 and not distributed.is_main_process()
    monkeypatch.setenv("RANK", "0")  # node 0's first worker: RANK wins over LOCAL_RANK
    assert distributed.is_main_process()


def test_other_ranks_write_and_hash_nothing(rank1: None, tmp_path: Path) -> None:
    run = Run(tmp_path / "run", "train")
    assert not run.main
    assert run.write_jsonl("rows.jsonl", [{"a": 1}]) == tmp_path / "run" / "rows.jsonl"
    run.write_json("x.json", {})
    run.write_text("x.md", "x")
    run.write_bytes("x.png", b"x")
    (tmp_path / "input.txt").write_text("in")
    run.record_input(tmp_path / "input.txt")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == []
    assert run.inputs == {} and run.outputs == {}


def test_other_ranks_join_a_folder_rank_0_already_finished(rank1: None, tmp_path: Path) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"status": "ok"}))
    Run(tmp_path, "prepare")  # rank 0 refuses a finished folder; rank 1 writes nothing into it


def test_execute_on_rank_1_writes_no_report_or_manifest_and_waits_for_rank_0(
    rank1: None, make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[str] = []
    monkeypatch.setattr(distributed, "stage_barrier", waited.append)
    run = run_configured(make_cfg("stage=explore"), tmp_path / "explore")
    assert waited == ["ok"]
    assert not (run.dir / MANIFEST).exists() and not (run.dir / REPORT).exists()
    assert not list(run.dir.iterdir())


@pytest.fixture
def agent_store(monkeypatch: pytest.MonkeyPatch):
    """A TCPStore server on a free port, as torchrun's agent serves it to its workers."""
    from torch.distributed import TCPStore

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(port))
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setattr(distributed, "_store", None)
    yield server
    distributed._store = None


def test_rank_1_uses_the_run_folder_rank_0_published(rank1: None, agent_store) -> None:
    agent_store.set("demalign/0/hydra.run.dir", "outputs/train/2026-01-01_00-00-00_000001")
    cfg = OmegaConf.create({"hydra": {"run": {"dir": "outputs/train/2026-01-01_00-00-00_999999"}}})
    OmegaConf.set_readonly(cfg, True)  # Hydra hands callbacks a read-only config
    distributed.SharedRunDir().on_run_start(cfg)
    assert cfg.hydra.run.dir == "outputs/train/2026-01-01_00-00-00_000001"


def test_rank_0_publishes_and_the_barrier_returns_its_status(
    agent_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.share("name", "value") == "value"
    assert agent_store.get("demalign/0/name") == b"value"
    monkeypatch.setattr(distributed, "_barrier_seq", iter(range(5)))
    assert distributed.stage_barrier("failed") == "failed"
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(distributed, "_barrier_seq", iter(range(5)))
    assert distributed.stage_barrier("ok") == "failed"  # rank 0's word, read from the store


def test_only_rank_0_writes_the_call_cache(rank1: None, tmp_path: Path) -> None:
    """Every rank of a launched recipe makes the same calls; two appenders would interleave lines, and a
    rank truncating a partial last line could cut rank 0's write in half."""
    from demalign.llm.cache import CallCache

    path = tmp_path / "calls.jsonl"
    path.write_text('{"key": "a", "text": "x"}\n{"key": "b", "te')  # rank 0 is mid-write
    cache = CallCache(path)
    cache.append({"key": "c", "text": "y"})
    assert path.read_text() == '{"key": "a", "text": "x"}\n{"key": "b", "te'
    assert cache.lookup("a", bool)["text"] == "x" and cache.lookup("c", bool)["text"] == "y"
