"""What the inspection page and `memory log` read beyond the `MemoryStore` protocol: counts,
pages of what grows (rows, episodes) and a run's totals, computed in SQL so that a
10,000-episode run is never loaded to show one page of it.

The SQL is what SQLite and PostgreSQL both run (`?` marks, no boolean arithmetic, aliased
subqueries), read through a store's `read_sql()`: the SQLite file's connection, or a read
transaction of the Postgres store (read-only when the store is), so both stores show the
same pages. The schema stays inside `reflexrl.memory`: callers get records, numbers and
plain dicts.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from ..errors import MemoryStoreError
from ..records import CLARIFY, Episode, MemoryRow, RunInfo
from ..usage import Usage
from .history import Change, OnEvent
from .protocols import MemoryReader, MemoryStore
from .sqlite.history import Sql, changes, resolve_point, rows_at

__all__ = [
    "PAGE_SORTS",
    "InspectableMemory",
    "changes_of",
    "count_matching",
    "counts",
    "crediting_count",
    "crediting_episodes",
    "evaluations_after",
    "failure_count",
    "inspectable",
    "last_episode_index",
    "matching_rows",
    "per_episode",
    "recorded_evaluations",
    "replay_prompt",
    "run_usage",
    "runs_with_episodes",
]


@runtime_checkable
class InspectableMemory(MemoryReader, Protocol):
    """What the page, the HTML report and `memory log` read: both stores are one."""

    def read_sql(self) -> AbstractContextManager[Sql]:
        """A connection for one read, taking the SQL of this module."""
        ...

    def lookup_many(self, suite: str, prompts: Sequence[str]) -> dict[str, MemoryRow]:
        """The rows of several prompts, by prompt."""
        ...

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        ...

    def episode(self, episode_id: int) -> Episode | None:
        """The episode with this id (None: no such episode)."""
        ...

    def embedding_model(self) -> str | None:
        """The embedding model of the memory's kNN lookup (None: it has none)."""
        ...


def inspectable(store: MemoryStore) -> InspectableMemory:
    """`store` as the page and `memory log` read it (every store `open_memory` opens is one).

    Raises:
        MemoryStoreError: a store these queries cannot read (not SQLite, not PostgreSQL).
    """
    if not isinstance(store, InspectableMemory):
        msg = f"{store.location}: not a memory these queries read (a SQLite or PostgreSQL one)"
        raise MemoryStoreError(msg)
    return store


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


def counts(store: InspectableMemory) -> dict[str, int]:
    """Rows, runs and episodes in the memory."""
    sql = """SELECT (SELECT count(*) FROM memory), (SELECT count(*) FROM runs),
        (SELECT count(*) FROM episodes)"""
    with store.read_sql() as db:
        rows, runs, episodes = db.execute(sql).fetchone()
    return {"rows": int(rows), "runs": int(runs), "episodes": int(episodes)}


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def _matching(search: str) -> tuple[str, list[Any]]:
    """The `WHERE` that keeps the rows whose prompt or query holds `search` literally,
    ignoring the case of ASCII letters: both databases' `lower` of a memory key changes
    those alone (SQLite's always, Postgres' on the keys' "C" collation)."""
    if not search:
        return "", []
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = "%" + escaped.translate(_ASCII_LOWER) + "%"
    where = "WHERE lower(prompt) LIKE ? ESCAPE '\\' OR lower(query) LIKE ? ESCAPE '\\'"
    return where, [like, like]


def count_matching(store: InspectableMemory, search: str) -> int:
    """How many rows have a prompt or query that holds `search` ("": every row)."""
    where, params = _matching(search)
    with store.read_sql() as db:
        return int(db.execute(f"SELECT count(*) FROM memory {where}", params).fetchone()[0])


def matching_rows(
    store: InspectableMemory,
    search: str,
    *,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
) -> tuple[MemoryRow, ...]:
    """One page of the rows `count_matching` counts, sorted by a `PAGE_SORTS` column (then
    by suite and prompt)."""
    where, params = _matching(search)
    order = f"{PAGE_SORTS[sort]} {'DESC' if descending else 'ASC'}, suite, prompt"
    sql = f"SELECT suite, prompt FROM memory {where} ORDER BY {order} LIMIT ? OFFSET ?"
    with store.read_sql() as db:
        keys = [(str(s), str(p)) for s, p in db.execute(sql, [*params, limit, offset]).fetchall()]
    by_suite: dict[str, list[str]] = {}
    for suite, prompt in keys:
        by_suite.setdefault(suite, []).append(prompt)
    found = {
        (r.suite, r.prompt): r
        for s, ps in by_suite.items()
        for r in store.lookup_many(s, ps).values()
    }
    return tuple(found[key] for key in keys)


def runs_with_episodes(store: InspectableMemory) -> list[dict[str, Any]]:
    """Every run, newest first, with its episode count (`episodes`)."""
    sql = """SELECT r.run_id, r.suite, r.model, r.seed, r.epochs, r.status, r.started_at,
        (SELECT count(*) FROM episodes e WHERE e.run_id = r.run_id) AS episodes
        FROM runs r ORDER BY r.started_at DESC, r.run_id"""
    with store.read_sql() as db:
        return list(db.query(sql))


def replay_prompt(store: InspectableMemory, suite: str, prompt: str, on_event: OnEvent) -> None:
    """Replay the log of one prompt up to now, showing `on_event` each credit it received
    and the prompt's row right after it."""
    with store.read_sql() as db:
        rows_at(db, resolve_point(db, "now"), suite=suite, prompt=prompt, on_event=on_event)


_CREDITING = """SELECT DISTINCT s.episode_id FROM reward_events ev JOIN steps s ON s.id = ev.step_id
    WHERE ev.suite = ? AND ev.prompt = ?"""
"""The ids of the episodes that credited a prompt."""


def crediting_count(store: InspectableMemory, suite: str, prompt: str) -> int:
    """How many episodes credited this prompt."""
    sql = f"SELECT count(*) FROM ({_CREDITING}) AS crediting"
    with store.read_sql() as db:
        return int(db.execute(sql, [suite, prompt]).fetchone()[0])


def crediting_episodes(
    store: InspectableMemory, suite: str, prompt: str, *, limit: int, offset: int
) -> tuple[dict[str, Any], ...]:
    """One page of the episodes that credited this prompt, in log order (a summary each)."""
    sql = f"""SELECT id, run_id, episode_index, epoch, outcome, reward,
        CASE WHEN explored THEN 1 ELSE 0 END AS explored, n_steps, prompt
        FROM episodes WHERE id IN ({_CREDITING}) ORDER BY id LIMIT ? OFFSET ?"""
    with store.read_sql() as db:
        return tuple(db.query(sql, [suite, prompt, limit, offset]))


def recorded_evaluations(store: InspectableMemory) -> list[dict[str, Any]]:
    """Every recorded evaluation, oldest first: id, after_episode (the id of the last episode
    logged before it), suite, model, split and results (memory off and on, as recorded)."""
    sql = """SELECT id, after_episode, suite, model, split, results FROM evaluations
        ORDER BY id"""
    with store.read_sql() as db:
        recorded = list(db.query(sql))
    return [ev | {"results": json.loads(ev["results"])} for ev in recorded]


def evaluations_after(store: InspectableMemory, run_id: str) -> list[dict[str, Any]]:
    """The evaluations recorded right after this run (the last episode before them is one of
    its episodes), with their metrics memory off (`before`) and on (`after`)."""
    sql = """SELECT ev.* FROM evaluations ev JOIN episodes e ON e.id = ev.after_episode
        WHERE e.run_id = ? ORDER BY ev.id"""
    with store.read_sql() as db:
        recorded = list(db.query(sql, [run_id]))
    found = []
    for ev in recorded:
        results = json.loads(ev.pop("results"))
        found.append(
            ev | {"before": results.get("before") or {}, "after": results.get("after") or {}}
        )
    return found


_PER_EPISODE = """SELECT e.epoch, e.query, e.prompt,
    CASE WHEN e.outcome = 'valid' THEN 1 ELSE 0 END AS success, count(s.id) AS steps,
    count(CASE WHEN s.action = ? THEN 1 END) AS clarifications,
    count(CASE WHEN NOT s.valid AND s.action != ? THEN 1 END) AS wrong,
    coalesce(sum(s.reward), 0.0) AS reward,
    min(CASE WHEN s.valid THEN s.step_index + 1 END) AS to_valid
    FROM episodes e LEFT JOIN steps s ON s.episode_id = e.id
    WHERE e.run_id = ? GROUP BY e.id ORDER BY e.episode_index"""
"""Per episode, what `Episode.success`, `.clarifications`, `.wrong_tools`, `.reward` and
`.steps_to_valid` compute from its steps."""


def per_episode(store: InspectableMemory, run_id: str) -> list[dict[str, Any]]:
    """Per episode of the run, in order: epoch, query, prompt, success, steps,
    clarifications, wrong (tools), reward and to_valid (see `_PER_EPISODE`)."""
    with store.read_sql() as db:
        return list(db.query(_PER_EPISODE, [CLARIFY, CLARIFY, run_id]))


def run_usage(store: InspectableMemory, run_id: str) -> Usage:
    """What a run spent: its episodes' usage and its failed attempts'."""
    sql = """SELECT usage FROM episodes WHERE run_id = ?
        UNION ALL SELECT usage FROM failures WHERE run_id = ?"""
    with store.read_sql() as db:
        found = db.execute(sql, [run_id, run_id]).fetchall()
    return sum((Usage.from_json(json.loads(u)) for (u,) in found), Usage())


def failure_count(store: InspectableMemory, run_id: str) -> int:
    """How many attempts of the run did not finish."""
    with store.read_sql() as db:
        found = db.execute("SELECT count(*) FROM failures WHERE run_id = ?", [run_id])
        return int(found.fetchone()[0])


def last_episode_index(store: InspectableMemory, run_id: str) -> int:
    """The `episode_index` of the run's last finished episode (-1: none)."""
    sql = "SELECT coalesce(max(episode_index), -1) FROM episodes WHERE run_id = ?"
    with store.read_sql() as db:
        return int(db.execute(sql, [run_id]).fetchone()[0])


def changes_of(store: InspectableMemory) -> list[Change]:
    """The memory's resets and rollbacks, oldest first."""
    with store.read_sql() as db:
        return changes(db)
