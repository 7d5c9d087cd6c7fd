"""Snapshots of the Postgres memory: what one episode reads, unchanged by later writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..lookup import Lookup
from .reader import PostgresReader
from .session import Session, unavailable

__all__ = ["PostgresSnapshot"]


class PostgresSnapshot(PostgresReader):
    """The memory as of the moment the snapshot was taken: a read-only REPEATABLE READ
    transaction held open on a connection of the store's pool until `close`."""

    def __init__(self, pool: ConnectionPool, location: str, finder: Lookup) -> None:
        self.location, self.finder = location, finder
        self._pool = pool
        try:
            self._conn = pool.getconn()
        except PoolTimeout as exc:
            raise unavailable(location, exc) from exc
        try:
            self._conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._conn.execute("SELECT 1 FROM memory LIMIT 1")  # takes the snapshot
        except BaseException as exc:
            self._pool.putconn(self._conn)
            if isinstance(exc, psycopg.OperationalError):
                raise unavailable(location, exc) from exc
            raise
        self._session = Session(self._conn)
        self._closed = False

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
        with suppress(psycopg.OperationalError):  # a lost connection: the pool discards it
            self._conn.rollback()
        self._pool.putconn(self._conn)
