"""What the inspection page and `memory log` read from a SQLite memory beyond the
`MemoryStore` protocol: counts, pages of what grows (rows, episodes) and a run's totals,
computed in SQL so that a 10,000-episode run is never loaded to show one page of it.

The schema stays inside `reflexrl.memory`: callers get records, numbers and plain dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...records import CLARIFY, MemoryRow
from ...usage import Usage
from ..history import Change, OnEvent
from .history import changes, resolve_point, rows_at
from .reader import SQLiteReader

__all__ = [
    "PAGE_SORTS",
    "changes_of",
    "count_matching",
    "counts",
    "crediting_count",
    "crediting_episodes",
    "evaluations_after",
    "failure_count",
    "last_episode_index",
    "matching_rows",
    "per_episode",
    "replay_prompt",
    "run_usage",
    "runs_with_episodes",
]

PAGE_SORTS: Mapping[str, str] = {
    "prompt": "prompt",
    "query": "query",
    "reward": "reward",
    "visits": "visits",
    "clarifications": "clarifications",
    "mean": "reward * 1.0 / visits",
    "updated": "updated_at",
}
"""The memory table's sortable columns, and the SQL each sorts by."""


def counts(reader: SQLiteReader) -> dict[str, int]:
    """Rows, runs and episodes in the file."""
    one = reader.db.execute
    return {
        "rows": int(one("SELECT count(*) FROM memory").fetchone()[0]),
        "runs": int(one("SELECT count(*) FROM runs").fetchone()[0]),
        "episodes": int(one("SELECT count(*) FROM episodes").fetchone()[0]),
    }


def _matching(search: str) -> tuple[str, list[Any]]:
    """The `WHERE` that keeps the rows whose prompt or query holds `search` literally."""
    if not search:
        return "", []
    like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return "WHERE prompt LIKE ? ESCAPE '\\' OR query LIKE ? ESCAPE '\\'", [like, like]


def count_matching(reader: SQLiteReader, search: str) -> int:
    """How many rows have a prompt or query that holds `search` ("": every row)."""
    where, params = _matching(search)
    return int(reader.db.execute(f"SELECT count(*) FROM memory {where}", params).fetchone()[0])


def matching_rows(
    reader: SQLiteReader, search: str, *, sort: str, descending: bool, limit: int, offset: int
) -> tuple[MemoryRow, ...]:
    """One page of the rows `count_matching` counts, sorted by a `PAGE_SORTS` column (then
    by suite and prompt)."""
    where, params = _matching(search)
    order = f"{PAGE_SORTS[sort]} {'DESC' if descending else 'ASC'}, suite, prompt"
    sql = f"SELECT suite, prompt FROM memory {where} ORDER BY {order} LIMIT ? OFFSET ?"
    keys = reader.db.execute(sql, [*params, limit, offset]).fetchall()
    by_suite: dict[str, list[str]] = {}
    for suite, prompt in keys:
        by_suite.setdefault(suite, []).append(prompt)
    found = {
        (r.suite, r.prompt): r
        for s, ps in by_suite.items()
        for r in reader.lookup_many(s, ps).values()
    }
    return tuple(found[(s, p)] for s, p in keys)


def runs_with_episodes(reader: SQLiteReader) -> list[dict[str, Any]]:
    """Every run, newest first, with its episode count (`episodes`)."""
    sql = """SELECT r.run_id, r.suite, r.model, r.seed, r.epochs, r.status, r.started_at,
        (SELECT count(*) FROM episodes e WHERE e.run_id = r.run_id) AS episodes
        FROM runs r ORDER BY r.started_at DESC"""
    return list(reader.db.query(sql))


def replay_prompt(reader: SQLiteReader, suite: str, prompt: str, on_event: OnEvent) -> None:
    """Replay the log of one prompt up to now, showing `on_event` each credit it received
    and the prompt's row right after it."""
    rows_at(
        reader.db, resolve_point(reader.db, "now"), suite=suite, prompt=prompt, on_event=on_event
    )


_CREDITING = """SELECT DISTINCT s.episode_id FROM reward_events ev JOIN steps s ON s.id = ev.step_id
    WHERE ev.suite = ? AND ev.prompt = ?"""
"""The ids of the episodes that credited a prompt."""


def crediting_count(reader: SQLiteReader, suite: str, prompt: str) -> int:
    """How many episodes credited this prompt."""
    sql = f"SELECT count(*) FROM ({_CREDITING})"
    return int(reader.db.execute(sql, [suite, prompt]).fetchone()[0])


def crediting_episodes(
    reader: SQLiteReader, suite: str, prompt: str, *, limit: int, offset: int
) -> tuple[dict[str, Any], ...]:
    """One page of the episodes that credited this prompt, in log order (a summary each)."""
    sql = f"""SELECT id, run_id, episode_index, epoch, outcome, reward, explored, n_steps, prompt
        FROM episodes WHERE id IN ({_CREDITING}) ORDER BY id LIMIT ? OFFSET ?"""
    return tuple(reader.db.query(sql, [suite, prompt, limit, offset]))


def evaluations_after(reader: SQLiteReader, run_id: str) -> list[dict[str, Any]]:
    """The evaluations recorded right after this run (the last episode before them is one of
    its episodes), with their metrics memory off (`before`) and on (`after`)."""
    sql = """SELECT ev.* FROM evaluations ev JOIN episodes e ON e.id = ev.after_episode
        WHERE e.run_id = ? ORDER BY ev.id"""
    found = []
    for ev in reader.db.query(sql, [run_id]):
        results = json.loads(ev.pop("results"))
        found.append(
            ev | {"before": results.get("before") or {}, "after": results.get("after") or {}}
        )
    return found


_PER_EPISODE = """SELECT e.epoch, e.query, e.prompt, e.outcome = 'valid' AS success,
    count(s.id) AS steps, coalesce(sum(s.action = :clarify), 0) AS clarifications,
    coalesce(sum(NOT s.valid AND s.action != :clarify), 0) AS wrong,
    coalesce(sum(s.reward), 0.0) AS reward,
    min(CASE WHEN s.valid THEN s.step_index + 1 END) AS to_valid
    FROM episodes e LEFT JOIN steps s ON s.episode_id = e.id
    WHERE e.run_id = :run GROUP BY e.id ORDER BY e.episode_index"""
"""Per episode, what `Episode.success`, `.clarifications`, `.wrong_tools`, `.reward` and
`.steps_to_valid` compute from its steps."""


def per_episode(reader: SQLiteReader, run_id: str) -> list[dict[str, Any]]:
    """Per episode of the run, in order: epoch, query, prompt, success, steps,
    clarifications, wrong (tools), reward and to_valid (see `_PER_EPISODE`)."""
    return list(reader.db.query(_PER_EPISODE, {"clarify": CLARIFY, "run": run_id}))


def run_usage(reader: SQLiteReader, run_id: str) -> Usage:
    """What a run spent: its episodes' usage and its failed attempts'."""
    sql = """SELECT usage FROM episodes WHERE run_id = ?
        UNION ALL SELECT usage FROM failures WHERE run_id = ?"""
    found = reader.db.execute(sql, [run_id, run_id])
    return sum((Usage.from_json(json.loads(u)) for (u,) in found), Usage())


def failure_count(reader: SQLiteReader, run_id: str) -> int:
    """How many attempts of the run did not finish."""
    found = reader.db.execute("SELECT count(*) FROM failures WHERE run_id = ?", [run_id])
    return int(found.fetchone()[0])


def last_episode_index(reader: SQLiteReader, run_id: str) -> int:
    """The `episode_index` of the run's last finished episode (-1: none)."""
    sql = "SELECT coalesce(max(episode_index), -1) FROM episodes WHERE run_id = ?"
    return int(reader.db.execute(sql, [run_id]).fetchone()[0])


def changes_of(reader: SQLiteReader) -> list[Change]:
    """The memory's resets and rollbacks, oldest first."""
    return changes(reader.db)
