"""The SQLite memory's aggregates (`memory`, `memory_actions`): credited, cleared, restored.

Each function writes inside the caller's transaction (`SQLiteWriter._write`), so the
aggregates change together with the log entry that explains the change.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from ...records import MemoryRow
from ..credit import RewardCredit
from .codecs import MEMORY, storable, suite_filter
from .writer import insert, now

__all__ = ["apply_credit", "change_record", "clear", "restore"]


def apply_credit(db: sqlite_utils.Database, credit: RewardCredit, step_id: int, at: str) -> None:
    """Apply one credit: a reward event, the prompt's aggregate, its action's record."""
    event = {
        "step_id": step_id,
        "suite": credit.suite,
        "prompt": credit.prompt,
        "action": credit.action,
        "reward": credit.reward,
        "created_at": at,
    }
    insert(db, "reward_events", event)
    row = [credit.suite, credit.prompt, credit.query, credit.reward, credit.clarification, at]
    db.execute(
        """INSERT INTO memory VALUES (?, ?, ?, ?, 1, ?, ?)
           ON CONFLICT (suite, prompt) DO UPDATE SET reward = reward + excluded.reward,
           visits = visits + 1, clarifications = clarifications + excluded.clarifications,
           updated_at = excluded.updated_at""",
        storable(row),
    )
    db.execute(
        """INSERT INTO memory_actions VALUES (?, ?, ?, 1, ?)
           ON CONFLICT (suite, prompt, action) DO UPDATE SET n = n + 1,
           reward = reward + excluded.reward""",
        storable([credit.suite, credit.prompt, credit.action, credit.reward]),
    )


def clear(db: sqlite_utils.Database, suite: str | None) -> int:
    """Delete the aggregates (of one suite); returns the rows removed."""
    where, params = suite_filter(suite)
    removed = db.execute(f"DELETE FROM memory {where}", storable(params)).rowcount
    db.execute(f"DELETE FROM memory_actions {where}", storable(params))
    return int(removed)


def restore(db: sqlite_utils.Database, row: MemoryRow) -> None:
    """Write a row rebuilt by replay back into the aggregates."""
    insert(db, "memory", MEMORY.to_row(row))
    for action, stats in row.actions.items():
        record = {"suite": row.suite, "prompt": row.prompt, "action": action}
        insert(db, "memory_actions", record | {"n": stats.n, "reward": stats.reward})


def change_record(db: sqlite_utils.Database, suite: str | None, kind: str) -> dict[str, Any]:
    """A `resets` row: the change, placed in the log after the last event and episode."""
    last_event = db.execute("SELECT coalesce(max(id), 0) FROM reward_events").fetchone()[0]
    last_episode = db.execute("SELECT coalesce(max(id), 0) FROM episodes").fetchone()[0]
    return {
        "suite": suite,
        "kind": kind,
        "last_event_id": last_event,
        "after_episode": last_episode,
        "created_at": now(),
    }
