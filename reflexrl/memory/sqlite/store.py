"""The SQLite memory: reward memory per (suite, prompt) in one file, with its log.

Every episode is appended to the log (episodes, steps, reward events) and credited to the
aggregates (memory, memory_actions) in one `BEGIN IMMEDIATE` transaction, so several processes
can train into one file and the aggregates always equal the sum of the logged reward events.
The roles live beside this module: the reads (`reader`), the run log (`run_log`), the
invocations waiting for a reward (`pending`), the aggregates' writes (`aggregates`), the
embedding cache (`vectors`), snapshots (`snapshots`) and the rows' codecs (`codecs`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import sqlite_utils

from ...errors import MemoryStoreError
from ...files.sqlite import (
    ReadOnlyFile,
    check_integrity,
    check_path,
    check_writable,
    connect,
    is_empty,
)
from ...records import Episode, MemoryRow
from ..history import Point, check_rollback
from ..lookup import ExactLookup, Lookup
from ..protocols import MemoryReader
from .aggregates import change_record, clear, restore
from .history import Sql, resolve_point, rows_at
from .pending import SQLitePendingLog
from .reader import SQLiteReader
from .run_log import SQLiteRunLog, append_episode, check_rewards
from .schema import SCHEMA_VERSION, check_schema, migrate
from .snapshots import LiveView, MemorySnapshot, ReaderPool
from .vectors import SQLiteVectorCache, index_folder_of
from .writer import ThreadConnections, insert

__all__ = ["RewardTable", "SQLiteMemory"]


class SQLiteMemory(SQLiteReader, SQLiteRunLog, SQLitePendingLog, SQLiteVectorCache):
    """A `MemoryStore` in a SQLite file (WAL, versioned schema, exact under concurrency).

    Nothing is created or changed before the file is known to be a usable memory: an
    existing file is checked read-only first (not SQLite, truncated, another application's
    tables, a newer schema: `MemoryStoreError`).

    Args:
        path: The database file (":memory:" for a throwaway one). Its folder is created if
            needed.
        create: If False, a missing file raises `MemoryNotFoundError` instead of being created.
        read_only: Open for reading only: nothing is written, no migration runs (a file of an
            older schema is migrated in a copy held in memory), the file and its folder are
            left exactly as they were, and a read-only disk works. Writing raises.
        lookup: How a prompt finds its rows: `ExactLookup()` (default) or a `KnnLookup`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        read_only: bool = False,
        lookup: Lookup | None = None,
    ) -> None:
        self.path = Path(path)
        self.finder = lookup or ExactLookup()
        self.location = str(self.path)
        self.read_only = read_only
        self._file: ReadOnlyFile | None = None
        if self.location == ":memory:":
            conn = connect(":memory:")
            migrate(conn, self.location)
        elif read_only:
            conn = self._open_read_only()
        else:
            conn = self._open_read_write(create)
        self.db = sqlite_utils.Database(conn)
        on_file = self.location != ":memory:" and not read_only
        self.threads = ThreadConnections(self.path if on_file else None)
        opener = self._file.connect if self._file is not None else partial(connect, self.path)
        self._readers = ReaderPool(opener)
        try:
            self.finder.bind(self)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def check(path: str | Path, *, must_exist: bool = False, thorough: bool = False) -> None:
        """Raise what opening `path` for writing would raise, creating and changing nothing
        (a missing file is fine unless `must_exist`: it would be created). `thorough` also
        reads every page (`PRAGMA quick_check`): a damaged file is refused even where the
        damage is in pages a writer would never read."""
        path = Path(path)
        check_path(path, must_exist=must_exist)
        check_writable(path)
        if path.exists() and not is_empty(path):  # else: made a new database, like a new file
            probe = ReadOnlyFile(path)
            _version(probe)  # closes the probe when it raises
            try:
                if thorough:
                    check_integrity(probe)
            finally:
                probe.close()

    @staticmethod
    def files(path: str | Path) -> tuple[Path, ...]:
        """Every file a memory at `path` is made of: the database, SQLite's side files and
        the kNN index folder (an output must never replace one of them)."""
        path = Path(path)
        sides = [path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")]
        return (path, *sides, index_folder_of(path))

    def _open_read_only(self) -> sqlite3.Connection:
        self._file = ReadOnlyFile(self.path)
        if _version(self._file) == SCHEMA_VERSION:
            return self._file.first
        copy = connect(":memory:", check_same_thread=False)
        self._file.first.backup(copy)
        self._file.close()
        self._file = None
        migrate(copy, self.location)
        return copy

    def _open_read_write(self, create: bool) -> sqlite3.Connection:
        self.check(self.path, must_exist=not create)  # before anything is written
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = connect(self.path)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit is durable once the process has written it (a crash of
            # the process loses nothing committed; only a power cut can drop the last ones),
            # without an fsync per episode blocking the event loop.
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn, self.location)
        except sqlite3.DatabaseError as exc:
            raise MemoryStoreError(f"{self.path}: not a usable memory database ({exc})") from exc
        return conn

    def __enter__(self) -> SQLiteMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (and the idle read connections of finished snapshots)."""
        self._readers.close()
        self.threads.close()
        if self._file is not None:
            self._file.close()  # the main connection, and the side files it caused
        else:
            self.db.close()

    def snapshot(self) -> MemoryReader:
        """A read-only view of the memory as it is now, unaffected by later writes.

        An in-memory store (":memory:", or the migrated copy of an older file opened
        read-only) cannot be opened twice: its view is the live store.
        """
        if self.location == ":memory:" or (self.read_only and self._file is None):
            return LiveView(self)
        return MemorySnapshot(self._readers, self.location, self.finder)

    @contextmanager
    def read_sql(self) -> Iterator[Sql]:
        """The file's connection, for one read in the SQL both stores run (`memory.queries`:
        the page and `memory log`)."""
        yield self.db

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append the episode and its steps; if `update`, apply its credits. One transaction.

        Raises:
            BadInputError: a step's reward is not finite (it would poison every sum).
        """
        check_rewards(episode)
        with self._write() as db:
            append_episode(db, episode, update=update)

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the append-only log is kept."""
        with self._write() as db:
            removed = clear(db, suite)
            insert(db, "resets", change_record(db, suite, "reset"))
        return removed

    # -- history ---------------------------------------------------------------------------

    def point(self, text: str) -> Point:
        """The moment of the log that `text` names (see `reflexrl.memory.history`)."""
        return resolve_point(self.db, text)

    def rows_at(self, point: Point, suite: str | None = None) -> Sequence[MemoryRow]:
        """The rows (of one suite) as they were at `point`, rebuilt from the log."""
        return rows_at(self.db, point, suite=suite)

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
            check_rollback(self.rows(suite), rows, point=point, suite=suite, runs=self.runs())
            clear(db, suite)
            for row in rows:
                restore(db, row)
            record = change_record(db, suite, "rollback")
            record |= {"to_point": point.label, "to_episode": point.episode}
            return insert(db, "resets", record | {"to_change": point.change})


RewardTable = SQLiteMemory  # the README's name, which user code imports


def _version(file: ReadOnlyFile) -> int:
    """The schema version of `file`, if it is a memory this reflexrl can use (else `file` is
    closed and `MemoryStoreError` raised)."""
    try:
        return check_schema(file.first, str(file.path))
    except BaseException as exc:
        file.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise file.unusable(exc) from exc
        raise
