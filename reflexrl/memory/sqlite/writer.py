"""How the SQLite memory is written: every write one `BEGIN IMMEDIATE` transaction.

An immediate transaction takes the file's write lock before it reads, so several processes
can train into one file and each write sees the totals the one before it left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from ...errors import MemoryStoreError
from .codecs import storable

__all__ = ["SQLiteWriter", "insert", "now"]


class SQLiteWriter:
    """What the store's writing roles share: its connection and its write transaction."""

    db: sqlite_utils.Database
    location: str
    read_only: bool

    @contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        if self.read_only:
            raise MemoryStoreError(f"{self.location}: opened read-only")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


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
