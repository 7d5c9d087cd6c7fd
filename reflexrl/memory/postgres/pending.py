"""The Postgres memory's log of invocations waiting for their reward (`PendingLog`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from ...records import Episode, PendingEpisode, PendingStatus
from ..pending import known, learn_run, with_proposed
from ..sqlite.codecs import PENDING, RUNS
from ..sqlite.run_log import check_rewards
from .session import PostgresWriter, Session, now, suite_filter
from .writer import append_episode

__all__ = ["PostgresPendingLog"]


class PostgresPendingLog(PostgresWriter):
    """The `PendingLog` of a Postgres memory: one row per invocation, settled once."""

    def log_pending(self, episode: PendingEpisode) -> PendingEpisode:
        """Keep an invocation's decisions until its reward arrives. The same run id twice
        (a retried log) keeps the first. Returns the stored record."""
        record = PENDING.to_row(episode, created_at=episode.created_at or now())
        del record["number"]  # numbered by the log
        with self._write() as db:
            db.insert_new("pending_episodes", record, key="number")
            stored = _pending(db, episode.run_id)
        assert stored is not None  # inserted or already there, in this transaction
        return stored

    def pending_episode(self, run_id: str) -> PendingEpisode | None:
        """The logged invocation `run_id`, whatever its status (None: never logged)."""
        with self._reading() as db:
            return _pending(db, run_id)

    def propose_pending(self, run_id: str, rewards: Mapping[int, float]) -> PendingEpisode:
        """Add `rewards` (by decision index) to the invocation's proposed ones, where it has
        none (those it has come first), if it is still pending, in one transaction (the row
        is locked). Returns the invocation as it is after."""
        with self._write() as db:
            found = known(_pending(db, run_id, lock=True), run_id, self.location)
            if found.status != "pending":
                return found
            after = with_proposed(found, rewards)
            dumped = PENDING.to_row(after)["proposed"]
            sql = "UPDATE pending_episodes SET proposed = %s WHERE run_id = %s"
            db.execute(sql, [dumped, run_id])
        return after

    def settle_pending(
        self, run_id: str, episode: Episode | None, by: str, comment: str | None = None
    ) -> PendingEpisode:
        """Credit `episode` for the invocation `run_id` (None: mark it expired), if it is
        still pending, in one transaction: what two processes settle at once is credited
        once (the row is locked). Returns the invocation as it was before (its `status`
        says whether this call settled it: "pending")."""
        if episode is not None:
            check_rewards(episode)
        with self._write() as db:
            found = known(_pending(db, run_id, lock=True), run_id, self.location)
            if found.status != "pending":
                return found
            at = now()
            status: PendingStatus = "expired" if episode is None else "credited"
            if episode is not None:
                run = RUNS.to_row(learn_run(found.suite, at), finished_at=None, status="running")
                db.insert_new("runs", run, key="run_id")
                logged = replace(episode, run_id=run["run_id"], index=found.number)
                append_episode(db, logged, update=True)
            db.execute(
                "UPDATE pending_episodes SET status = %s, settled_by = %s, settled_at = %s, "
                "comment = %s WHERE run_id = %s",
                [status, by, at, comment, run_id],
            )
        return found

    def invocations(
        self, suite: str | None = None, status: PendingStatus | None = None
    ) -> Sequence[PendingEpisode]:
        """The logged invocations (of one suite, with one status), oldest first."""
        where, params = suite_filter(suite)
        if status is not None:
            where = f"{where} AND status = %s" if where else "WHERE status = %s"
            params = [*params, status]
        sql = f"SELECT * FROM pending_episodes {where} ORDER BY number"
        with self._reading() as db:
            return [PENDING.from_row(r) for r in db.query(sql, params)]

    def due_pending(self, at: str, limit: int = 1000) -> Sequence[PendingEpisode]:
        """Invocations still pending whose time ran out at `at` (an ISO time), oldest first."""
        sql = """SELECT * FROM pending_episodes WHERE status = 'pending' AND expires_at <= %s
            ORDER BY expires_at, number LIMIT %s"""
        with self._reading() as db:
            return [PENDING.from_row(r) for r in db.query(sql, [at, limit])]

    def pending_counts(self, suite: str | None = None) -> Mapping[PendingStatus, int]:
        """How many logged invocations are pending, credited and expired (of one suite)."""
        where, params = suite_filter(suite)
        sql = f"SELECT status, count(*) AS n FROM pending_episodes {where} GROUP BY status"
        counts: dict[PendingStatus, int] = {"pending": 0, "credited": 0, "expired": 0}
        with self._reading() as db:
            for r in db.query(sql, params):
                counts[r["status"]] = int(r["n"])
        return counts


def _pending(db: Session, run_id: str, *, lock: bool = False) -> PendingEpisode | None:
    sql = "SELECT * FROM pending_episodes WHERE run_id = %s" + (" FOR UPDATE" if lock else "")
    rows = db.query(sql, [run_id])
    return PENDING.from_row(rows[0]) if rows else None
