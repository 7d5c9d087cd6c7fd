"""Snapshots of the Postgres memory: what one episode reads, unchanged by later writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..lookup import Lookup
from .reader import PostgresReader
from .session import Session, retrying, unavailable

__all__ = ["PostgresSnapshot"]


class PostgresSnapshot(PostgresReader):
    """The memory as of the moment the snapshot was taken: a read-only REPEATABLE READ
    transaction held open on a connection of the store's pool until `close`."""

    def __init__(self, pool: ConnectionPool, location: str, finder: Lookup) -> None:
        self.location, self.finder = location, finder
        self._pool = pool
        self._session = Session(self._begin(), reconnect=self._again)
        self._closed = False

    def _begin(self) -> psycopg.Connection:
        """A pooled connection holding the snapshot's transaction."""
        try:
            conn = self._pool.getconn()
        except PoolTimeout as exc:
            raise unavailable(self.location, exc) from exc
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SELECT 1 FROM memory LIMIT 1")  # takes the snapshot
        except BaseException as exc:
            self._pool.putconn(conn)
            if isinstance(exc, psycopg.OperationalError):
                raise unavailable(self.location, exc) from exc
            raise
        return conn

    def _again(self, lost: psycopg.Connection) -> psycopg.Connection:
        """A new snapshot, for one whose connection was lost (a restarted server): the
        memory as it is now, the closest the server can still give."""
        self._pool.putconn(lost)
        return retrying(self._begin)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        try:
            yield self._session
        except psycopg.OperationalError as exc:
            raise unavailable(self.location, exc) from exc

    def close(self) -> None:
        """End the read transaction (the connection goes back to the store's pool)."""
        if self._closed:
            return
        self._closed = True
        conn = self._session.conn
        with suppress(psycopg.OperationalError):  # a lost connection: the pool discards it
            conn.execute("ROLLBACK")  # the pool's connections autocommit: began above
        self._pool.putconn(conn)
