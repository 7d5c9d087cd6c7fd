"""Reading commands only read: `memory show/log/diff`, `report` and frozen `eval` leave the
memory file and its folder byte-for-byte as they were, never migrate it, and work on a
read-only disk (`ui`: tests/ui/test_ui.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from inprocess import run_main

from reflexrl import RewardTable
from reflexrl.memory.sqlite.schema import SCHEMA_VERSION, V1

READS = [
    ("memory", "show", "--json"),
    ("memory", "show", "--sort", "reward"),
    ("memory", "show", "--at", "start", "--json"),
    ("memory", "log", "--json"),
    ("memory", "diff", "--from", "start", "--json"),
    ("report", "--format", "json"),
    ("report",),
    ("report", "--format", "html"),
    ("eval", "--model", "fake:oracle", "--json"),
    ("eval", "--model", "fake:first", "--compare", "--json"),
]
SAME_OPEN = {
    ("memory", "show", "--at", "start", "--json"),
    ("memory", "log", "--json"),
    ("report", "--format", "html"),
}
ON_A_READ_ONLY_DISK = [r for r in READS if r not in SAME_OPEN]
"""A process each (about 4 s of imports), so not the commands that open the file as another
one in the list does (`memory diff` stands for the history commands)."""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    db = tmp_path / "mem" / "m.db"
    train = ("train", "--model", "fake:first", "--epochs", "2", "--memory", str(db))
    assert run_main(*train) == 0
    return db


def test_reading_commands_change_nothing(trained: Path, capfd: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(trained.parent)
    assert list(before) == ["m.db"]
    for args in READS:
        assert run_main(*args, "--memory", str(trained)) == 0, capfd.readouterr().err
        assert _snapshot(trained.parent) == before, args


def test_a_reader_alongside_a_writer_leaves_the_side_files_to_sqlite(trained: Path) -> None:
    """With a writer's connection open, the reader must not remove the WAL under it."""
    with RewardTable(trained) as writer:
        rows = writer.rows()
        with RewardTable(trained, read_only=True) as reader:
            assert reader.rows() == rows
        assert (trained.parent / "m.db-wal").exists()
        assert writer.rows() == rows
    assert sorted(p.name for p in trained.parent.iterdir()) == ["m.db"]


def test_writing_through_a_read_only_table_raises(trained: Path) -> None:
    with RewardTable(trained, read_only=True) as reader, pytest.raises(Exception, match="read"):
        reader.reset()


def test_an_older_schema_is_read_in_memory_not_migrated(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1)
    conn.execute("INSERT INTO memory VALUES ('s', 'a prompt', 'q1', 1.0, 1, 0, 't')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with RewardTable(db, read_only=True) as reader:
        assert [r.prompt for r in reader.rows()] == ["a prompt"]
        assert reader.failures("none") == []  # a v2 table, in the copy
        view = reader.snapshot()
        assert [r.prompt for r in view.rows()] == ["a prompt"]
        view.close()
    assert db.read_bytes() == before and SCHEMA_VERSION > 1


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (Linux)")
def test_reading_commands_work_on_a_read_only_disk(trained: Path) -> None:
    """The folder is bind-mounted read-only with bubblewrap: SQLite cannot create its side
    files there, and nobody, root included, can write."""
    reads = ON_A_READ_ONLY_DISK
    expected = {args: _cli(args, trained, read_only=False) for args in reads if "--json" in args}
    before = _snapshot(trained.parent)
    for args in reads:
        result = _run(args, trained, read_only=True)
        assert result.returncode == 0, result.stderr
        if "--json" in args:
            assert _without_usage(json.loads(result.stdout)) == expected[args]
    assert _snapshot(trained.parent) == before
    writes = [
        ("memory", "reset", "--yes"),
        ("train", "--model", "fake:first", "--epochs", "1"),
        ("eval", "--model", "fake:first", "--record"),  # refused before it evaluates
    ]
    for args in writes:
        writing = _run(args, trained, read_only=True)
        assert writing.returncode == 2 and writing.stdout == "", (args, writing.stderr)
        refusal = "cannot be written (the memory database or its folder is read-only)"
        assert writing.stderr == f"error: {trained}: {refusal}\n"
    assert _snapshot(trained.parent) == before


def _run(args: tuple[str, ...], db: Path, *, read_only: bool) -> subprocess.CompletedProcess[str]:
    folder = str(db.parent)
    jail = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", folder, folder] if read_only else []
    cmd = [*jail, sys.executable, "-m", "reflexrl", *args, "--memory", str(db)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _cli(args: tuple[str, ...], db: Path, *, read_only: bool) -> object:
    result = _run(args, db, read_only=read_only)
    assert result.returncode == 0, result.stderr
    return _without_usage(json.loads(result.stdout))


def _without_usage(data: object) -> object:
    """The JSON minus what differs between two runs of the same command (timings)."""
    if isinstance(data, dict):
        return {k: _without_usage(v) for k, v in data.items() if k != "usage"}
    if isinstance(data, list):
        return [_without_usage(v) for v in data]
    return data
