"""How the Postgres memory talks to its database: a `Session` over one connection, and the
transactions the store's roles share (reads; writes under the log's lock).

Every write that appends to the log or changes the aggregates holds one advisory lock until
it commits (`LOG_LOCK`), so the log's ids (episodes, reward events, changes, memory rows) are
assigned in commit order: a point of the history, a replay and a kNN index's "rows added
since id N" see one total order, as with SQLite's single writer. The credits themselves are
atomic increments (`aggregates.apply_credit`), never a read-modify-write of a row.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import MemoryStoreError
from ...safety.text import for_storage
from ..sqlite.writer import now  # the log's times, as both stores write them (compared as text)
from .connect import describe

__all__ = [
    "LOG_LOCK",
    "ConnectionSetup",
    "PostgresWriter",
    "Session",
    "check_pooled",
    "now",
    "retrying",
    "storable",
    "suite_filter",
    "unavailable",
]

LOG = logging.getLogger(__name__)
T = TypeVar("T")

LOG_LOCK = 0x7265_666C_0002
"""The advisory lock every write of the log holds until it commits."""


def storable(params: Sequence[Any]) -> list[Any]:
    """Query parameters (and the strings of list parameters) with every string as Postgres
    text can hold it: UTF-8 (see `for_storage`) without NUL, which Postgres text refuses
    (stored as U+FFFD: a prompt is found by the text it was stored with)."""
    return [_storable(p) for p in params]


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return for_storage(value).replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def suite_filter(suite: str | None) -> tuple[str, list[Any]]:
    """The `WHERE` clause and parameters that keep one suite's rows (None: every row)."""
    return ("WHERE suite = %s", [suite]) if suite else ("", [])


def check_pooled(conn: psycopg.Connection) -> None:
    """Check a connection the pool hands out, without a round trip unless it has unread
    input: a server that restarted or ended the session sends an error and closes, which
    makes its socket readable; only then is it pinged (and, broken, replaced).

    Raises:
        psycopg.OperationalError: the connection is closed or broken.
    """
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    if select.select([conn.fileno()], [], [], 0)[0]:
        ConnectionPool.check_connection(conn)


def unavailable(location: str, exc: BaseException) -> MemoryStoreError:
    """The error of a store whose server failed it mid-work."""
    return MemoryStoreError(f"{location}: PostgreSQL failed ({describe(exc)})")


RETRY_SECONDS = 60.0
"""How long a read, or an episode's write, is retried while the server is unreachable (a
restart, a failover): longer than a restart takes, short enough to surface an outage."""


def retrying(work: Callable[[], T]) -> T:
    """`work()`, run again while it fails because the server went away, for up to
    `RETRY_SECONDS` (only for work that is safe to repeat: a read, or a write that is
    idempotent, such as an episode's)."""
    deadline = time.monotonic() + RETRY_SECONDS
    delay = 0.1
    while True:
        try:
            return work()
        except MemoryStoreError as exc:
            if not _lost(exc.__cause__) or time.monotonic() > deadline:
                raise
            LOG.warning("%s; trying again in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


def _lost(exc: BaseException | None) -> bool:
    """Whether `exc` says the connection to the server was lost (not a refused statement)."""
    return isinstance(exc, psycopg.OperationalError) and not isinstance(
        exc, psycopg.errors.QueryCanceled
    )


class Session:
    """Queries over one connection, inside the caller's transaction. A session of reads
    outside a transaction (`reconnect` given) runs a statement again on a new connection
    when its connection was lost: each statement is its own transaction there."""

    def __init__(
        self,
        conn: psycopg.Connection,
        reconnect: Callable[[psycopg.Connection], psycopg.Connection] | None = None,
    ) -> None:
        self.conn = conn
        self.reconnect = reconnect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run `sql`; its rows are tuples."""
        return self._again(lambda conn: conn.execute(sql, storable(params)))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of `sql`, as dicts by column."""

        def rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
            with conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(sql, storable(params))
                return cursor.fetchall()

        return self._again(rows)

    def _again(self, statement: Callable[[psycopg.Connection], T]) -> T:
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                return statement(self.conn)
            except psycopg.OperationalError:
                if self.reconnect is None or not self.conn.broken:
                    raise
                if time.monotonic() > deadline:
                    raise
                LOG.warning("lost the connection to PostgreSQL; reading again")
                self.conn = self.reconnect(self.conn)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row of `sql` (None: no row)."""
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def add(self, table: str, record: dict[str, Any]) -> None:
        """Insert one row."""
        self.execute(_insert(table, record), list(record.values()))

    def insert(self, table: str, record: dict[str, Any]) -> int:
        """Insert one row, returning its id."""
        return int(self.value(f"{_insert(table, record)} RETURNING id", list(record.values())))

    def insert_new(self, table: str, record: dict[str, Any], *, key: str = "id") -> Any:
        """Insert one row unless it breaks a uniqueness constraint (a retried write):
        returns its `key` column, or None if it was already there."""
        sql = f"{_insert(table, record)} ON CONFLICT DO NOTHING RETURNING {key}"
        return self.value(sql, list(record.values()))


def _insert(table: str, record: dict[str, Any]) -> str:
    columns = ", ".join(record)
    marks = ", ".join(["%s"] * len(record))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


@runtime_checkable
class ConnectionSetup(Protocol):
    """A lookup that sets up each pooled connection of the memory it searches."""

    def configure(self, conn: psycopg.Connection) -> None:
        """Called once per new connection, before its first use."""
        ...


class PostgresWriter:
    """What the store's roles share: its pool, and its read and write transactions."""

    pool: ConnectionPool
    location: str
    read_only: bool

    def _reading(self) -> AbstractContextManager[Session]:
        """A session for reads, on a pooled connection in autocommit: each statement is its
        own transaction (read-only where the store is), which saves the BEGIN and COMMIT
        round trips a transaction costs and sees what a READ COMMITTED one would. A read
        that needs one snapshot is one statement, or `transaction()`.

        Raises:
            MemoryStoreError: as `_transaction`.
        """
        return self._statements()

    @contextmanager
    def _statements(self) -> Iterator[Session]:
        try:
            session = Session(self.pool.getconn(), reconnect=self._replace)
            try:
                yield session
            finally:
                self.pool.putconn(session.conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise unavailable(self.location, exc) from exc

    def _replace(self, lost: psycopg.Connection) -> psycopg.Connection:
        """Another pooled connection for one that was lost (the pool discards that one)."""
        self.pool.putconn(lost)
        return self.pool.getconn()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """One transaction on a pooled connection: committed, or rolled back if it raised.

        Raises:
            MemoryStoreError: the server went away or no connection came free (a broken
                connection leaves the pool: the next call connects again; a write whose
                commit went unanswered may be retried, see `writer`).
        """
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield Session(conn)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise unavailable(self.location, exc) from exc

    def statements(self) -> AbstractContextManager[Session]:
        """A session for reads beside the store (the pgvector lookup's search): each
        statement in autocommit, as the store's own reads."""
        return self._reading()

    def transaction(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """A transaction for what works beside the store on its database (the pgvector
        lookup): a read, or a write outside the log (no log lock)."""
        return self._write(logged=False) if write else self._transaction()

    @contextmanager
    def _write(self, *, logged: bool = True) -> Iterator[Session]:
        """A write transaction; `logged` (a write of the log or the aggregates) takes the
        log's lock first (see the module's docstring).

        Raises:
            MemoryStoreError: the store is read-only.
        """
        if self.read_only:
            raise MemoryStoreError(f"{self.location}: opened read-only")
        with self._transaction() as db:
            if logged:
                db.execute("SELECT pg_advisory_xact_lock(%s)", [LOG_LOCK])
            yield db
