"""Opening a SQLite file safely: its path checked before anything is created, and read-only
connections that change nothing (not the file, not its directory), even on a read-only disk.

SQLite readers of a WAL-mode file create its `-wal` and `-shm` side files when they are
missing; `ReadOnlyFile.close` removes the ones it caused (through SQLite itself, which deletes
them only when no other connection uses them). On a read-only file system, where SQLite cannot
create them, the file is opened as immutable: nobody can be writing to it there.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from ..errors import BadInputError, MemoryNotFoundError, MemoryStoreError

__all__ = [
    "ReadOnlyFile",
    "check_integrity",
    "check_path",
    "check_writable",
    "connect",
    "is_empty",
]

SIDE_FILES = ("-wal", "-shm")


def connect(target: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A connection in autocommit mode that waits up to a minute for locks."""
    conn = sqlite3.connect(target, isolation_level=None, timeout=60.0, **kwargs)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def check_path(path: Path, *, must_exist: bool, what: str = "memory database") -> None:
    """Raise if `path` cannot hold a SQLite file: a directory, a missing file that must exist,
    or a folder on the way that is a file. Creates nothing."""
    try:
        if path.is_dir():
            raise MemoryStoreError(f"{path}: is a directory, not a {what}")
        if path.exists():
            if must_exist and is_empty(path):  # SQLite would make it a new database
                raise MemoryStoreError(f"{path}: an empty file, not a {what}")
            return
        if must_exist:
            raise MemoryNotFoundError(f"{path}: no {what} here")
        folder = next(p for p in path.parents if p.exists())
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be used ({exc.strerror or exc})") from exc
    if not folder.is_dir():
        raise BadInputError(f"{path}: {folder} is a file, not a directory")


class ReadOnlyFile:
    """Read-only connections to one existing SQLite file (see the module docstring)."""

    def __init__(self, path: Path, what: str = "memory database") -> None:
        check_path(path, must_exist=True, what=what)
        self.path = path
        self.what = what
        self._before = {s for s in SIDE_FILES if _side(path, s).exists()}
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        try:
            self.first = self._first_connection()
        except BaseException as exc:
            self._tidy()
            if isinstance(exc, sqlite3.DatabaseError):
                raise self.unusable(exc) from exc
            raise

    def unusable(self, exc: BaseException) -> MemoryStoreError:
        """The error for a file SQLite cannot read."""
        return MemoryStoreError(f"{self.path}: not a usable {self.what} ({exc})")

    def _first_connection(self) -> sqlite3.Connection:
        try:
            conn = self._probe()
        except sqlite3.OperationalError:
            if "-wal" in self._before or os.access(self.path.parent, os.W_OK):
                raise
            self._uri += "&immutable=1"  # a read-only disk: SQLite cannot make its side files
            conn = self._probe()
        self._check_length(conn)
        return conn

    def _probe(self) -> sqlite3.Connection:
        # It only reads: another thread may use it too (the page's server does).
        conn = self.connect(check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_length(self, conn: sqlite3.Connection) -> None:
        """A file shorter than its header says was cut off (unless a WAL holds the rest)."""
        wal = _side(self.path, "-wal")
        if wal.exists() and wal.stat().st_size:
            return
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        if pages * size > self.path.stat().st_size:
            conn.close()
            raise MemoryStoreError(f"{self.path}: not a usable {self.what} (the file is truncated)")

    def connect(self, **kwargs: Any) -> sqlite3.Connection:
        """Another read-only connection to the file."""
        return connect(self._uri, uri=True, **kwargs)

    def close(self) -> None:
        """Close the first connection and remove the side files this object caused. Call it
        after every connection from `connect` is closed."""
        self.first.close()
        self._tidy()

    def _tidy(self) -> None:
        created = [s for s in SIDE_FILES if s not in self._before and _side(self.path, s).exists()]
        if not created:
            return
        try:  # SQLite deletes the side files when its last connection to the file closes
            tidy = connect(self.path)
        except sqlite3.Error:
            return  # the disk refuses: leave them to SQLite
        try:
            tidy.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            pass  # a damaged file: closing still lets SQLite clean up
        finally:
            tidy.close()


def check_writable(path: Path, what: str = "memory database") -> None:
    """Raise if `path` (an existing file, or one to be created) cannot be written, or its
    folder cannot hold SQLite's side files: a read-only disk, file or folder."""
    folder = next(p for p in path.parents if p.exists())
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(folder, os.W_OK):
        raise MemoryStoreError(f"{path}: cannot be written (the {what} or its folder is read-only)")


def check_integrity(file: ReadOnlyFile) -> None:
    """Raise if SQLite finds `file` damaged (`PRAGMA quick_check`: every page read once),
    before a writer appends to a file whose middle is lost."""
    try:
        found = file.first.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        found = str(exc)
    if found != "ok":
        raise MemoryStoreError(f"{file.path}: not a usable {file.what} (damaged: {found})")


def is_empty(path: Path) -> bool:
    """Whether `path` is a file of 0 bytes (with no WAL holding pages): SQLite would make it
    a new database."""
    wal = _side(path, "-wal")
    return path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size)


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
