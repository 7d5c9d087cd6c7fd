"""Snapshots of the SQLite memory: what one episode reads, unchanged by later writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import sqlite_utils

from ..lookup import Lookup
from .reader import SQLiteReader

__all__ = ["LiveView", "MemorySnapshot", "ReaderPool"]


class ReaderPool:
    """Read connections to one file, kept open between snapshots (a training run takes one
    per episode; opening a connection each time costs more than the reads themselves)."""

    def __init__(self, opener: Callable[..., sqlite3.Connection]) -> None:
        self._open = opener
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection:
        """An idle connection, or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open(check_same_thread=False)  # opened by a hook, read by the loop

    def give_back(self, conn: sqlite3.Connection) -> None:
        """Keep `conn` for the next snapshot."""
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class MemorySnapshot(SQLiteReader):
    """The memory as of the moment the snapshot was taken (a pinned WAL read transaction)."""

    def __init__(self, pool: ReaderPool, location: str, finder: Lookup) -> None:
        self.location, self.finder = location, finder
        self._pool = pool
        conn = pool.take()
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM memory").fetchone()  # pins the snapshot
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        """End the read transaction (the connection goes back to the store's pool)."""
        self.db.conn.rollback()
        self._pool.give_back(self.db.conn)


class LiveView(SQLiteReader):
    """The store itself, read through a view whose `close` leaves the store open (a memory
    held only in memory cannot be opened a second time to take a snapshot)."""

    def __init__(self, store: SQLiteReader) -> None:
        self.db, self.location, self.finder = store.db, store.location, store.finder

    def close(self) -> None:
        """Nothing to release."""
