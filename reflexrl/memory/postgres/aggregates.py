"""The Postgres memory's aggregates (`memory`, `memory_actions`): credited, cleared, restored.

A credit is two upserts whose conflict branch adds to the stored sums (`reward = m.reward +
excluded.reward`, `visits = m.visits + 1`): the row is locked and incremented by the server,
never read into the process and written back, so two processes crediting one prompt at once
both count. Each function writes inside the caller's transaction (`PostgresWriter._write`).
"""

from __future__ import annotations

from typing import Any

from ...records import MemoryRow
from ..credit import RewardCredit
from ..sqlite.codecs import MEMORY
from .session import Session, now, suite_filter

__all__ = ["apply_credit", "change_record", "clear", "restore"]

_CREDIT_ROW = """INSERT INTO memory AS m
    (suite, prompt, query, reward, visits, clarifications, updated_at)
    VALUES (%s, %s, %s, %s, 1, %s, %s)
    ON CONFLICT (suite, prompt) DO UPDATE SET reward = m.reward + excluded.reward,
    visits = m.visits + 1, clarifications = m.clarifications + excluded.clarifications,
    updated_at = excluded.updated_at"""
_CREDIT_ACTION = """INSERT INTO memory_actions AS a (suite, prompt, action, n, reward)
    VALUES (%s, %s, %s, 1, %s)
    ON CONFLICT (suite, prompt, action) DO UPDATE SET n = a.n + 1,
    reward = a.reward + excluded.reward"""


def apply_credit(db: Session, credit: RewardCredit, step_id: int, at: str) -> None:
    """Apply one credit: a reward event, the prompt's aggregate, its action's record."""
    event = {
        "step_id": step_id,
        "suite": credit.suite,
        "prompt": credit.prompt,
        "action": credit.action,
        "reward": credit.reward,
        "created_at": at,
    }
    db.add("reward_events", event)
    key = [credit.suite, credit.prompt]
    db.execute(_CREDIT_ROW, [*key, credit.query, credit.reward, int(credit.clarification), at])
    db.execute(_CREDIT_ACTION, [*key, credit.action, credit.reward])


def clear(db: Session, suite: str | None) -> int:
    """Delete the aggregates (of one suite); returns the rows removed."""
    where, params = suite_filter(suite)
    removed = db.execute(f"DELETE FROM memory {where}", params).rowcount
    db.execute(f"DELETE FROM memory_actions {where}", params)
    return int(removed)


def restore(db: Session, row: MemoryRow) -> None:
    """Write a row rebuilt by replay back into the aggregates."""
    db.add("memory", MEMORY.to_row(row))
    for action, stats in row.actions.items():
        record = {"suite": row.suite, "prompt": row.prompt, "action": action}
        db.add("memory_actions", record | {"n": stats.n, "reward": stats.reward})


def change_record(db: Session, suite: str | None, kind: str) -> dict[str, Any]:
    """A `resets` row: the change, placed in the log after the last event and episode."""
    return {
        "suite": suite,
        "kind": kind,
        "last_event_id": db.value("SELECT coalesce(max(id), 0) FROM reward_events"),
        "after_episode": db.value("SELECT coalesce(max(id), 0) FROM episodes"),
        "created_at": now(),
    }
