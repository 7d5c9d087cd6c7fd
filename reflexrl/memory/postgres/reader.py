"""The reading half of the Postgres memory: its rows, as the store and its snapshots read them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...records import ActionStats, MemoryRow
from ..lookup import Lookup
from ..ordering import SQL_ORDER, SortKey
from ..protocols import LookupKind, Neighbour
from ..sqlite.codecs import MEMORY
from .session import Session, suite_filter

__all__ = ["PostgresReader", "read_rows"]


class PostgresReader:
    """Reads the aggregates (`memory`, `memory_actions`) in the sessions `_reading` gives:
    a transaction of the store's pool, or the one a snapshot holds open."""

    location: str
    finder: Lookup
    _reading: Callable[[], AbstractContextManager[Session]]

    @property
    def lookup_kind(self) -> LookupKind:
        """How `nearest` finds rows ("exact" or "knn")."""
        return self.finder.kind

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The memory of one prompt, or None if it was never credited."""
        with self._reading() as db:
            where = "WHERE suite = %s AND prompt = %s"
            found = read_rows(db, where, [suite, prompt], "prompt", None, actions=True)
        return found[0] if found else None

    def nearest(self, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The rows that inform `prompt`, as the store's lookup finds them."""
        return self.finder.nearest(self, suite, prompt)

    def served(self, suite: str) -> frozenset[str]:
        """The actions that earned a positive mean reward on some stored prompt of `suite`."""
        sql = "SELECT DISTINCT action FROM memory_actions WHERE suite = %s AND reward > 0"
        with self._reading() as db:
            return frozenset(str(a) for (a,) in db.execute(sql, [suite]))

    def lookup_many(self, suite: str, prompts: Sequence[str]) -> dict[str, MemoryRow]:
        """The rows of several prompts at once (those that have one), by prompt."""
        if not prompts:
            return {}
        with self._reading() as db:
            where = "WHERE suite = %s AND prompt = ANY(%s)"
            found = read_rows(db, where, [suite, list(prompts)], "prompt", None, actions=True)
        return {r.prompt: r for r in found}

    def lookup_fresh(
        self, suite: str, prompts: Sequence[str], after: int
    ) -> dict[str, MemoryRow] | None:
        """The rows of several prompts, by prompt, or None if the suite has rows added after
        id `after`: one statement, which reads the new rows too (few, unless the index is
        far behind) and so answers both from one snapshot."""
        where = "WHERE suite = %s AND (prompt = ANY(%s) OR id > %s)"
        with self._reading() as db:
            records = _records(db, where, [suite, list(prompts), after], "prompt", None, True)
        if any(r["id"] > after for r in records):
            return None
        return {row.prompt: row for row in map(_row, records)}

    def prompts_after(self, suite: str, after: int) -> list[tuple[int, str]]:
        """(id, prompt) of the suite's rows whose id is above `after`, in id order: what a
        kNN index has not seen yet (ids grow in commit order: `session.LOG_LOCK`)."""
        sql = "SELECT id, prompt FROM memory WHERE suite = %s AND id > %s ORDER BY id"
        with self._reading() as db:
            return [(int(i), str(p)) for i, p in db.execute(sql, [suite, after])]

    def rows(
        self,
        suite: str | None = None,
        *,
        sort: SortKey = "prompt",
        limit: int | None = None,
        actions: bool = True,
    ) -> Sequence[MemoryRow]:
        """All rows (of one suite), sorted by reward or visits (highest first) or prompt."""
        where, params = suite_filter(suite)
        with self._reading() as db:
            return read_rows(db, where, params, sort, limit, actions=actions)


def read_rows(
    db: Session,
    where: str,
    params: list[Any],
    sort: SortKey,
    limit: int | None,
    *,
    actions: bool,
) -> list[MemoryRow]:
    """The memory rows `where` selects, sorted, with their actions if `actions`: one
    statement, so rows and actions are read from one snapshot in one round trip."""
    return [_row(r) for r in _records(db, where, params, sort, limit, actions)]


def _records(
    db: Session, where: str, params: list[Any], sort: SortKey, limit: int | None, actions: bool
) -> list[dict[str, Any]]:
    """The rows of `read_rows` as the database returns them (with their ids)."""
    detail = _ACTIONS if actions else "NULL"
    sql = f"SELECT m.*, {detail} AS actions FROM memory m {where} ORDER BY {SQL_ORDER[sort]}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return db.query(sql, params)


_ACTIONS = """(SELECT json_agg(json_build_array(a.action, a.n, a.reward) ORDER BY a.action)
    FROM memory_actions a WHERE a.suite = m.suite AND a.prompt = m.prompt)"""
"""A row's actions, as a JSON list of [action, n, reward] (float8 goes to JSON exactly)."""


def _row(record: dict[str, Any]) -> MemoryRow:
    detail = {a: ActionStats(int(n), float(r)) for a, n, r in record.pop("actions") or ()}
    return MEMORY.from_row(record, actions=detail)
