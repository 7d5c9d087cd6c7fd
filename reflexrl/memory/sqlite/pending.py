"""The SQLite memory's log of invocations waiting for their reward (`PendingLog`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import sqlite_utils

from ...records import Episode, PendingEpisode, PendingStatus
from ..pending import known, learn_run, with_proposed
from .codecs import PENDING, RUNS, suite_filter
from .run_log import append_episode, check_rewards
from .writer import SQLiteWriter, insert, now

__all__ = ["SQLitePendingLog"]


class SQLitePendingLog(SQLiteWriter):
    """The `PendingLog` of a SQLite memory: one row per invocation, settled once."""

    def log_pending(self, episode: PendingEpisode) -> PendingEpisode:
        """Keep an invocation's decisions until its reward arrives. The same run id twice
        (a retried log) keeps the first. Returns the stored record."""
        record = PENDING.to_row(episode, created_at=episode.created_at or now())
        del record["number"]  # numbered by the log
        with self._write() as db:
            insert(db, "pending_episodes", record, or_ignore=True)
            stored = _pending(db, episode.run_id)
        assert stored is not None  # inserted or already there, in this transaction
        return stored

    def pending_episode(self, run_id: str) -> PendingEpisode | None:
        """The logged invocation `run_id`, whatever its status (None: never logged)."""
        return _pending(self.db, run_id)

    def propose_pending(self, run_id: str, rewards: Mapping[int, float]) -> PendingEpisode:
        """Add `rewards` (by decision index) to the invocation's proposed ones, where it has
        none (those it has come first), if it is still pending, in one transaction.
        Returns the invocation as it is after."""
        with self._write() as db:
            found = known(_pending(db, run_id), run_id, self.location)
            if found.status != "pending":
                return found
            after = with_proposed(found, rewards)
            dumped = PENDING.to_row(after)["proposed"]
            sql = "UPDATE pending_episodes SET proposed = ? WHERE run_id = ?"
            db.execute(sql, [dumped, run_id])
        return after

    def settle_pending(
        self, run_id: str, episode: Episode | None, by: str, comment: str | None = None
    ) -> PendingEpisode:
        """Credit `episode` for the invocation `run_id` (None: mark it expired), if it is
        still pending, in one transaction: what two processes settle at once is credited
        once. Returns the invocation as it was before (its `status` says whether this call
        settled it: "pending")."""
        if episode is not None:
            check_rewards(episode)
        with self._write() as db:
            found = known(_pending(db, run_id), run_id, self.location)
            if found.status != "pending":
                return found
            at = now()
            status: PendingStatus = "expired" if episode is None else "credited"
            if episode is not None:
                run = RUNS.to_row(learn_run(found.suite, at), finished_at=None, status="running")
                insert(db, "runs", run, or_ignore=True)
                logged = replace(episode, run_id=run["run_id"], index=found.number)
                append_episode(db, logged, update=True)
            db.execute(
                "UPDATE pending_episodes SET status = ?, settled_by = ?, settled_at = ?, "
                "comment = ? WHERE run_id = ?",
                [status, by, at, comment, run_id],
            )
        return found

    def invocations(
        self, suite: str | None = None, status: PendingStatus | None = None
    ) -> Sequence[PendingEpisode]:
        """The logged invocations (of one suite, with one status), oldest first."""
        where, params = suite_filter(suite)
        if status is not None:
            where = f"{where} AND status = ?" if where else "WHERE status = ?"
            params = [*params, status]
        sql = f"SELECT * FROM pending_episodes {where} ORDER BY number"
        return [PENDING.from_row(r) for r in self.db.query(sql, params)]

    def due_pending(self, at: str, limit: int = 1000) -> Sequence[PendingEpisode]:
        """Invocations still pending whose time ran out at `at` (an ISO time), oldest first."""
        sql = """SELECT * FROM pending_episodes WHERE status = 'pending' AND expires_at <= ?
            ORDER BY expires_at LIMIT ?"""
        return [PENDING.from_row(r) for r in self.db.query(sql, [at, limit])]

    def pending_counts(self, suite: str | None = None) -> Mapping[PendingStatus, int]:
        """How many logged invocations are pending, credited and expired (of one suite)."""
        where, params = suite_filter(suite)
        sql = f"SELECT status, count(*) AS n FROM pending_episodes {where} GROUP BY status"
        counts: dict[PendingStatus, int] = {"pending": 0, "credited": 0, "expired": 0}
        for r in self.db.query(sql, params):
            counts[r["status"]] = r["n"]
        return counts


def _pending(db: sqlite_utils.Database, run_id: str) -> PendingEpisode | None:
    rows = list(db.query("SELECT * FROM pending_episodes WHERE run_id = ?", [run_id]))
    return PENDING.from_row(rows[0]) if rows else None
