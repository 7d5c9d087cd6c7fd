"""How the SQLite memory is written: every write one `BEGIN IMMEDIATE` transaction.

An immediate transaction takes the file's write lock before it reads, so several processes
can train into one file and each write sees the totals the one before it left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from ...errors import MemoryStoreError
from ...files.sqlite import connect
from .codecs import storable

__all__ = ["SQLiteWriter", "ThreadConnections", "insert", "now"]


class ThreadConnections:
    """Write connections for threads other than the one that opened the store (a judge
    working in the background): a sqlite3 connection serves the thread that made it, so
    each other thread writes through one of its own to the same file."""

    def __init__(self, path: Path | None) -> None:
        self.owner = threading.get_ident()
        self.path = path
        self.local = threading.local()
        self.opened: list[sqlite_utils.Database] = []
        self.lock = threading.Lock()

    def current(self, own: sqlite_utils.Database) -> sqlite_utils.Database:
        """`own` in the thread that opened the store, else this thread's connection."""
        if threading.get_ident() == self.owner:
            return own
        db: sqlite_utils.Database | None = getattr(self.local, "db", None)
        if db is None:
            if self.path is None:
                msg = "an in-memory store is written only by the thread that opened it"
                raise MemoryStoreError(msg)
            # Closed by the owner's `close`; used by this thread alone.
            db = sqlite_utils.Database(connect(self.path, check_same_thread=False))
            db.execute("PRAGMA synchronous=NORMAL")
            self.local.db = db
            with self.lock:
                self.opened.append(db)
        return db

    def close(self) -> None:
        """Close every other thread's connection."""
        with self.lock:
            for db in self.opened:
                db.close()
            self.opened.clear()


class SQLiteWriter:
    """What the store's writing roles share: its connection and its write transaction."""

    db: sqlite_utils.Database
    location: str
    read_only: bool
    threads: ThreadConnections

    @contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        if self.read_only:
            raise MemoryStoreError(f"{self.location}: opened read-only")
        db = self.threads.current(self.db)
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def now() -> str:
    """The time a row is written, as the log stores it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def insert(
    db: sqlite_utils.Database, table: str, record: dict[str, Any], *, or_ignore: bool = False
) -> int:
    """Insert one row, returning its rowid (plain SQL: `Table.insert` re-reads the table's
    schema on every call, which costs more than the insert on the training hot path).
    `or_ignore`: a row that breaks a uniqueness constraint is skipped."""
    columns = ", ".join(record)
    marks = ", ".join("?" * len(record))
    values = storable(list(record.values()))
    verb = "INSERT OR IGNORE" if or_ignore else "INSERT"
    cursor = db.execute(f"{verb} INTO {table} ({columns}) VALUES ({marks})", values)
    return int(cursor.lastrowid or 0)
