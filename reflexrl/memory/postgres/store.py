"""`PostgresMemory`: the reward memory of a fleet, in one PostgreSQL database.

Every episode is appended to the log (runs, episodes, steps, reward events) and credited to
the aggregates (memory, memory_actions) in one transaction, its credits applied as atomic
increments (`aggregates`), at most once per (run, episode index) (`writer`). The roles live
beside this module, as the SQLite store's do beside `sqlite/store.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from ...records import Episode, MemoryRow
from ..history import Point, check_rollback
from ..lookup import ExactLookup, Lookup
from ..protocols import MemoryReader
from ..sqlite.run_log import check_rewards
from .aggregates import change_record, clear, restore
from .connect import CONNECT_TIMEOUT, connect, location_of
from .history import Qmark, resolve_point, rows_at
from .pending import PostgresPendingLog
from .reader import PostgresReader, read_rows
from .run_log import PostgresRunLog, read_runs
from .schema import check_schema, migrate, require_current
from .session import ConnectionSetup, check_pooled, retrying, suite_filter, unavailable
from .snapshots import PostgresSnapshot
from .vectors import PostgresVectorCache
from .writer import append_episode

__all__ = ["PostgresMemory"]

POOL_SIZE = 10
"""Connections a store keeps at most: the writes, reads, and one per open snapshot (an
episode holds one while it runs); past it a snapshot waits for one to come back."""


class PostgresMemory(PostgresReader, PostgresRunLog, PostgresPendingLog, PostgresVectorCache):
    """A `MemoryStore` in a PostgreSQL database, shared by any number of processes.

    Nothing is created or changed before the database is known to be a usable memory (an
    unreachable server, refused credentials, another application's tables, a newer schema:
    `MemoryStoreError`, whose message never holds the password). The memory lives in the
    connection's schema (`search_path`: `public` unless the URL says otherwise).

    Args:
        url: `postgresql://user:password@host:port/database` (or `postgres://`); what it
            leaves out comes from libpq's environment variables (`PGHOST`, `PGPASSWORD`, ...).
            The database must exist.
        create: If False, a database without a memory raises `MemoryNotFoundError` instead
            of one being created in it.
        read_only: Open for reading only: nothing is written, no migration runs, and reads
            run in read-only transactions. Writing raises `MemoryStoreError`.
        lookup: How a prompt finds its rows: `ExactLookup()` (default) or a `KnnLookup`.
        pool_size: Connections kept at most (see `POOL_SIZE`).
    """

    def __init__(
        self,
        url: str,
        *,
        create: bool = True,
        read_only: bool = False,
        lookup: Lookup | None = None,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.location = location_of(url)
        self.finder = lookup or ExactLookup()
        self.read_only = read_only
        with connect(url, self.location, read_only=read_only) as conn:
            try:
                if read_only:
                    require_current(conn, self.location)
                else:
                    migrate(conn, self.location, create=create)
            except psycopg.Error as exc:  # e.g. no right to create tables in the schema
                raise unavailable(self.location, exc) from exc
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"connect_timeout": CONNECT_TIMEOUT, "autocommit": True},
            configure=self._configure,
            check=check_pooled,  # a server restart costs no call an error
            name=self.location,
            open=True,
        )
        try:
            self.finder.bind(self)
        except BaseException:
            self.close()
            raise

    def _configure(self, conn: psycopg.Connection) -> None:
        """Every pooled connection of a read-only store runs read-only transactions, its
        explicit ones and its autocommitted statements alike; a lookup that searches in the
        database sets up each connection too."""
        conn.read_only = self.read_only
        if self.read_only:
            conn.execute("SET default_transaction_read_only = on")
        if isinstance(self.finder, ConnectionSetup):
            self.finder.configure(conn)

    @staticmethod
    def check(url: str, *, must_exist: bool = False) -> None:
        """Raise what opening `url` for writing would raise, creating and changing nothing
        (a database without a memory is fine unless `must_exist`: one would be created).

        Raises:
            MemoryNotFoundError: no such database, or no memory in it and `must_exist`.
            MemoryStoreError: see the class.
        """
        location = location_of(url)
        with connect(url, location, read_only=True) as conn:
            if must_exist:
                require_current(conn, location)
            else:
                check_schema(conn, location)

    def __enter__(self) -> PostgresMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()

    def snapshot(self) -> MemoryReader:
        """A read-only view of the memory as it is now, unaffected by later writes."""
        return PostgresSnapshot(self.pool, self.location, self.finder)

    @contextmanager
    def read_sql(self) -> Iterator[Qmark]:
        """One read transaction (read-only where the store is), taking the SQL with `?` marks
        both stores run (`memory.queries`: the page and `memory log`)."""
        with self.transaction() as db:
            yield Qmark(db)

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append the episode and its steps; if `update`, apply its credits. One
        transaction; a retried write of an episode already logged changes nothing.

        Raises:
            BadInputError: a step's reward is not finite (it would poison every sum).
        """
        check_rewards(episode)
        retrying(lambda: self._append(episode, update))  # lost connection: safe to repeat

    def _append(self, episode: Episode, update: bool) -> None:
        with self._write() as db:
            append_episode(db, episode, update=update)

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the append-only log is kept."""
        with self._write() as db:
            removed = clear(db, suite)
            db.add("resets", change_record(db, suite, "reset"))
        return removed

    # -- history ---------------------------------------------------------------------------

    def point(self, text: str) -> Point:
        """The moment of the log that `text` names (see `reflexrl.memory.history`)."""
        with self._reading() as db:
            return resolve_point(db, text)

    def rows_at(self, point: Point, suite: str | None = None) -> Sequence[MemoryRow]:
        """The rows (of one suite) as they were at `point`, rebuilt from the log."""
        with self._reading() as db:
            return rows_at(db, point, suite=suite)

    def rollback(self, point: Point, suite: str | None = None) -> int:
        """Return the aggregates (of one suite) to what they were at `point`.

        The log keeps everything and the rollback is logged as a change: rolling back to
        `before-change:N` (N: the id returned) undoes it. Returns that id.

        Raises:
            BadInputError: `suite` is not in the memory, or the rollback would change
                nothing (nothing is written then).
        """
        with self._write() as db:
            rows = rows_at(db, point, suite=suite)
            where, params = suite_filter(suite)
            now_rows = read_rows(db, where, params, "prompt", None, actions=True)
            check_rollback(now_rows, rows, point=point, suite=suite, runs=read_runs(db))
            clear(db, suite)
            for row in rows:
                restore(db, row)
            record = change_record(db, suite, "rollback")
            record |= {"to_point": point.label, "to_episode": point.episode}
            return db.insert("resets", record | {"to_change": point.change})
