"""The reading half of the SQLite memory: its rows, as the store and its snapshots read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from ...records import ActionStats, MemoryRow
from ..lookup import Lookup
from ..ordering import SQL_ORDER, SortKey
from ..protocols import LookupKind, Neighbour
from .codecs import MEMORY, storable, suite_filter

__all__ = ["SQLiteReader"]


class SQLiteReader:
    """Reads the aggregates (`memory`, `memory_actions`) through `db`, which the store and
    each of its snapshots set: the same reads, live or as of a moment."""

    db: sqlite_utils.Database
    location: str
    finder: Lookup

    @property
    def lookup_kind(self) -> LookupKind:
        """How `nearest` finds rows ("exact" or "knn")."""
        return self.finder.kind

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The memory of one prompt, or None if it was never credited."""
        found = self._rows("WHERE suite = ? AND prompt = ?", [suite, prompt], "prompt", None, True)
        return found[0] if found else None

    def nearest(self, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The rows that inform `prompt`, as the store's lookup finds them."""
        return self.finder.nearest(self, suite, prompt)

    def served(self, suite: str) -> frozenset[str]:
        """The actions that earned a positive mean reward on some stored prompt of `suite`."""
        sql = "SELECT DISTINCT action FROM memory_actions WHERE suite = ? AND reward > 0"
        return frozenset(str(a) for (a,) in self.db.execute(sql, storable([suite])))

    def lookup_many(self, suite: str, prompts: Sequence[str]) -> dict[str, MemoryRow]:
        """The rows of several prompts at once (those that have one), by prompt."""
        if not prompts:
            return {}
        marks = ", ".join("?" * len(prompts))
        where = f"WHERE suite = ? AND prompt IN ({marks})"
        found = self._rows(where, [suite, *prompts], "prompt", None, True)
        return {r.prompt: r for r in found}

    def prompts_after(self, suite: str, after: int) -> list[tuple[int, str]]:
        """(id, prompt) of the suite's rows whose id is above `after`, in id order: what a
        kNN index has not seen yet (ids grow as rows are added). NOT INDEXED: a range of row
        ids, not a scan of the suite's every row through the (suite, prompt) key."""
        sql = (
            "SELECT rowid, prompt FROM memory NOT INDEXED "
            "WHERE suite = ? AND rowid > ? ORDER BY rowid"
        )
        return [(int(i), str(p)) for i, p in self.db.execute(sql, storable([suite, after]))]

    def lookup_fresh(
        self, suite: str, prompts: Sequence[str], after: int
    ) -> dict[str, MemoryRow] | None:
        """The rows of several prompts, by prompt, or None if the suite has rows added after
        id `after` (two statements: a file's reads cost no round trip)."""
        sql = "SELECT 1 FROM memory NOT INDEXED WHERE suite = ? AND rowid > ? LIMIT 1"
        if self.db.execute(sql, storable([suite, after])).fetchone():
            return None
        return self.lookup_many(suite, prompts)

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
        return self._rows(where, params, sort, limit, actions)

    def _rows(
        self, where: str, params: list[Any], sort: SortKey, limit: int | None, actions: bool
    ) -> list[MemoryRow]:
        sql = f"SELECT * FROM memory {where} ORDER BY {SQL_ORDER[sort]}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = list(self.db.query(sql, storable(params)))
        detail = self._actions(where, params) if actions else {}
        return [MEMORY.from_row(r, actions=detail.get((r["suite"], r["prompt"]), {})) for r in rows]

    def _actions(
        self, where: str, params: list[Any]
    ) -> dict[tuple[str, str], dict[str, ActionStats]]:
        out: dict[tuple[str, str], dict[str, ActionStats]] = {}
        sql = f"SELECT * FROM memory_actions {where} ORDER BY action"
        for r in self.db.query(sql, storable(params)):
            out.setdefault((r["suite"], r["prompt"]), {})[r["action"]] = ActionStats(
                r["n"], r["reward"]
            )
        return out
