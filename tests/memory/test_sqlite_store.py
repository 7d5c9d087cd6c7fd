"""The SQLite memory: exact aggregates, one transaction per episode, schema versioning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reflexrl import BadInputError, RewardTable, SQLiteMemory
from reflexrl import memory as memory_package
from reflexrl.errors import MemoryStoreError
from reflexrl.memory.sqlite.schema import SCHEMA_VERSION, V1
from reflexrl.records import Episode, RunInfo, Step


def _episode(index: int, *steps: tuple[str, str, float]) -> Episode:
    recorded = tuple(Step(i, p, a, {"x": 1}, r, r > 0) for i, (p, a, r) in enumerate(steps))
    return Episode("run", index, 1, "s", "q", steps[0][0], False, "valid", recorded)


def test_credits_rows_and_actions(memory: RewardTable) -> None:
    memory.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
    memory.record_episode(
        _episode(
            0, ("p", "bad", -1.0), ("p", "ask_user_for_clarification", 0.0), ("p2", "good", 1.0)
        )
    )
    memory.record_episode(_episode(1, ("p", "good", 1.0)))
    row = memory.lookup("s", "p")
    assert row is not None
    assert (row.reward, row.visits, row.clarifications) == (0.0, 3, 1)
    assert {a: (s.n, s.reward) for a, s in row.actions.items()} == {
        "bad": (1, -1.0),
        "ask_user_for_clarification": (1, 0.0),
        "good": (1, 1.0),
    }
    assert row.best_action() == "good"
    assert [r.prompt for r in memory.rows("s", sort="reward")] == ["p2", "p"]
    episodes = memory.episodes("run")
    assert [len(e.steps) for e in episodes] == [3, 1] and episodes[0].steps[0].args == {"x": 1}


def test_log_only_episode_changes_no_memory(memory: RewardTable) -> None:
    memory.record_episode(_episode(0, ("p", "bad", -1.0)), update=False)
    assert memory.lookup("s", "p") is None
    assert memory.db.execute("SELECT count(*) FROM steps").fetchone()[0] == 1


def test_failed_write_leaves_nothing(memory: RewardTable) -> None:
    memory.record_episode(_episode(0, ("p", "bad", -1.0)))
    with pytest.raises(sqlite3.IntegrityError):  # same (run, index): the episode row clashes
        memory.record_episode(_episode(0, ("p", "good", 1.0)))
    row = memory.lookup("s", "p")
    assert row is not None and row.reward == -1.0 and row.visits == 1
    assert memory.db.execute("SELECT count(*) FROM steps").fetchone()[0] == 1


@pytest.mark.parametrize("reward", [float("inf"), float("-inf"), float("nan")])
def test_a_reward_that_is_not_finite_is_refused_before_anything_is_written(
    memory: RewardTable, reward: float
) -> None:
    memory.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
    with pytest.raises(BadInputError, match=r"step 1 has reward .*; rewards must be finite"):
        memory.record_episode(_episode(0, ("p", "bad", -1.0), ("p", "good", reward)))
    count = "SELECT (SELECT count(*) FROM episodes) + (SELECT count(*) FROM reward_events)"
    assert memory.db.execute(count).fetchone()[0] == 0 and memory.lookup("s", "p") is None


def test_reset_keeps_the_log(memory: RewardTable) -> None:
    memory.record_episode(_episode(0, ("p", "bad", -1.0)))
    assert memory.reset("s") == 1
    assert (
        memory.rows() == []
        and memory.db.execute("SELECT count(*) FROM reward_events").fetchone()[0] == 1
    )


def test_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    RewardTable(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(MemoryStoreError, match="newer than this reflexrl understands"):
        RewardTable(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_text("this is not sqlite " * 100)
    with pytest.raises(MemoryStoreError, match="not a usable memory database"):
        RewardTable(path)


def test_best_action_prefers_asking_over_tools_that_only_lost(memory: RewardTable) -> None:
    memory.record_episode(_episode(0, ("p", "calculator", -1.0), ("q", "calculator", 1.0)))
    lost, won = memory.lookup("s", "p"), memory.lookup("s", "q")
    assert lost is not None and won is not None
    assert lost.best_action() == "ask_user_for_clarification"
    assert lost.best_action(known={}) == "calculator"
    assert won.best_action() == "calculator"


def test_version_1_files_move_failed_episodes_to_failures(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(V1)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO runs VALUES ('r', 'paper', 'fake:x', 0, 1, 4, '{}', 't', NULL, 'failed')"
    )
    conn.execute(
        "INSERT INTO episodes (run_id, episode_index, epoch, suite, query, prompt, explored, "
        "outcome, reward, n_steps, updated_memory, messages, memory_blocks, error, created_at) "
        "VALUES ('r', 3, 1, 'paper', 'q1', 'p', 0, 'failed', 0, 0, 0, '[]', '[]', 'boom', 't')"
    )
    conn.commit()
    conn.close()
    table = RewardTable(path)
    assert table.episodes("r") == []
    (failure,) = table.failures("r")
    assert (failure.index, failure.error, failure.usage.calls) == (3, "boom", 0)
    assert table.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _visits(reader, prompt: str = "p") -> int:  # type: ignore[no-untyped-def]
    row = reader.lookup("s", prompt)
    return 0 if row is None else row.visits


def test_a_snapshot_keeps_the_memory_of_its_start_and_the_next_one_sees_later_writes(
    memory: RewardTable,
) -> None:
    memory.start_run(RunInfo("run", "s", "fake:first", 0, 1, 4))
    memory.record_episode(_episode(0, ("p", "good", 1.0)))
    held = memory.snapshot()
    memory.record_episode(_episode(1, ("p", "good", 1.0)))
    assert (_visits(held), _visits(memory)) == (1, 2)
    held.close()
    again = memory.snapshot()  # the pooled connection of `held`, in a new read transaction
    memory.record_episode(_episode(2, ("p", "good", 1.0)))
    assert (_visits(again), _visits(memory)) == (2, 3)
    again.close()


def test_reward_table_names_the_sqlite_memory() -> None:
    assert RewardTable is SQLiteMemory is memory_package.SQLiteMemory is memory_package.RewardTable
