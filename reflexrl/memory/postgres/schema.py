"""Schema of the Postgres memory, versioned in its `reflexrl_schema` table, and its migrations.

The tables and columns are the SQLite memory's (the same codecs read both), with Postgres
types: identity ids, booleans, float8 sums. Text keys are `COLLATE "C"`: rows sort by code
point, as SQLite sorts them and as `ordering.sort_rows` sorts rows rebuilt from the log, so a
listing of the memory now and one of a past point agree on any server's locale.
"""

from __future__ import annotations

import re

import psycopg

from ...errors import MemoryNotFoundError, MemoryStoreError

__all__ = ["APPLICATION", "SCHEMA_VERSION", "check_schema", "migrate"]

APPLICATION = "reflexrl"
VERSION_TABLE = "reflexrl_schema"
MIGRATION_LOCK = 0x7265_666C_0001
"""The advisory lock migrations take: two processes opening a new memory migrate it once."""

V1 = """
CREATE TABLE reflexrl_schema (
    application TEXT NOT NULL, version INTEGER NOT NULL, migrated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, seed BIGINT NOT NULL,
    epochs BIGINT NOT NULL, max_steps BIGINT NOT NULL, settings TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL
);
CREATE TABLE episodes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL, episode_index BIGINT NOT NULL,
    epoch BIGINT NOT NULL, suite TEXT NOT NULL, query TEXT NOT NULL, prompt TEXT NOT NULL,
    explored BOOLEAN NOT NULL, outcome TEXT NOT NULL, reward DOUBLE PRECISION NOT NULL,
    n_steps BIGINT NOT NULL, updated_memory BOOLEAN NOT NULL, messages TEXT NOT NULL,
    memory_blocks TEXT NOT NULL, error TEXT, usage TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, UNIQUE (run_id, episode_index)
);
CREATE TABLE steps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id BIGINT NOT NULL REFERENCES episodes(id), step_index BIGINT NOT NULL,
    prompt TEXT NOT NULL, credited_to TEXT NOT NULL, action TEXT NOT NULL, args TEXT NOT NULL,
    reward DOUBLE PRECISION NOT NULL, valid BOOLEAN NOT NULL, explored BOOLEAN NOT NULL
);
CREATE TABLE reward_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    step_id BIGINT NOT NULL REFERENCES steps(id), suite TEXT COLLATE "C" NOT NULL,
    prompt TEXT COLLATE "C" NOT NULL, action TEXT COLLATE "C" NOT NULL,
    reward DOUBLE PRECISION NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE memory (
    id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE, suite TEXT COLLATE "C" NOT NULL,
    prompt TEXT COLLATE "C" NOT NULL, query TEXT, reward DOUBLE PRECISION NOT NULL,
    visits BIGINT NOT NULL, clarifications BIGINT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (suite, prompt)
);
CREATE TABLE memory_actions (
    suite TEXT COLLATE "C" NOT NULL, prompt TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL, n BIGINT NOT NULL, reward DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (suite, prompt, action)
);
CREATE TABLE resets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, suite TEXT,
    last_event_id BIGINT NOT NULL, created_at TEXT NOT NULL, kind TEXT NOT NULL,
    after_episode BIGINT NOT NULL, to_point TEXT, to_episode BIGINT, to_change BIGINT
);
CREATE TABLE failures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id TEXT NOT NULL, episode_index BIGINT NOT NULL,
    epoch BIGINT NOT NULL, query TEXT NOT NULL, prompt TEXT NOT NULL, error TEXT NOT NULL,
    usage TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE evaluations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, suite TEXT NOT NULL,
    model TEXT NOT NULL, split TEXT NOT NULL, after_episode BIGINT NOT NULL,
    results TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, dimensions INTEGER NOT NULL,
    vector BYTEA NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (model, text_hash)
);
CREATE TABLE memory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pending_episodes (
    number BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL UNIQUE,
    suite TEXT NOT NULL, thread_id TEXT, prompt TEXT NOT NULL, decisions TEXT NOT NULL,
    proposed TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    status TEXT NOT NULL, settled_by TEXT, settled_at TEXT, comment TEXT
);
CREATE INDEX memory_suite_id ON memory (suite, id);
CREATE INDEX steps_episode ON steps (episode_id, step_index);
CREATE INDEX events_prompt ON reward_events (suite, prompt);
CREATE INDEX events_step ON reward_events (step_id);
CREATE INDEX episodes_created ON episodes (created_at);
CREATE INDEX failures_run ON failures (run_id, episode_index);
CREATE INDEX pending_due ON pending_episodes (status, expires_at);
CREATE INDEX pending_suite ON pending_episodes (suite, status);
"""
"""Version 1: the SQLite memory's tables as of its schema version 5 (as there, an episode or
a failure may name a run the log does not hold: no foreign key to `runs`). `memory (suite, id)`
serves a kNN index's "rows added since" (`prompts_after`); every read of the aggregates is
by suite (the primary keys lead with it)."""

V2 = """
ALTER TABLE steps ADD COLUMN also_prompt BOOLEAN NOT NULL DEFAULT false;
"""
"""Version 2: as the SQLite memory's version 6 (`Step.also_prompt`)."""

MIGRATIONS: tuple[str, ...] = (V1, V2)
"""MIGRATIONS[i] takes the schema from version i to version i + 1."""

SCHEMA_VERSION = len(MIGRATIONS)
_CREATED = re.compile(r"CREATE TABLE (\w+)")


def tables_of(version: int) -> frozenset[str]:
    """The tables a memory of schema `version` has."""
    return frozenset(t for script in MIGRATIONS[:version] for t in _CREATED.findall(script))


def check_schema(conn: psycopg.Connection, location: str) -> int:
    """The schema version of the memory in the connection's schema (`search_path`), if this
    reflexrl can use it; 0 for an empty one (a new memory). Reads only.

    Raises:
        MemoryStoreError: not UTF-8, a newer schema, or not a reflexrl memory (tables of
            another application, or tables missing for its version).
    """
    encoding = conn.execute("SHOW server_encoding").fetchone()
    if encoding is None or encoding[0] != "UTF8":
        raise MemoryStoreError(f"{location}: the database's encoding is not UTF8")
    sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    found = {str(r[0]) for r in conn.execute(sql)}
    if VERSION_TABLE not in found:
        if found:
            others = ", ".join(sorted(found)[:5])
            msg = (
                f"{location}: not a reflexrl memory database (tables: {others}); use an "
                "empty database, or a schema of its own (options=-csearch_path=NAME)"
            )
            raise MemoryStoreError(msg)
        return 0
    return _version(conn, location, found)


def _version(conn: psycopg.Connection, location: str, found: set[str]) -> int:
    row = conn.execute(f"SELECT application, version FROM {VERSION_TABLE}").fetchone()
    if row is None or row[0] != APPLICATION:
        raise MemoryStoreError(f"{location}: not a reflexrl memory database")
    version = int(row[1])
    if version > SCHEMA_VERSION:
        msg = (
            f"{location}: memory schema version {version} is newer than this reflexrl "
            f"understands ({SCHEMA_VERSION}); upgrade reflexrl"
        )
        raise MemoryStoreError(msg)
    missing = sorted(tables_of(version) - found)
    if missing:
        msg = (
            f"{location}: not a usable reflexrl memory database (schema version {version} "
            f"but no table {missing[0]})"
        )
        raise MemoryStoreError(msg)
    return version


def migrate(conn: psycopg.Connection, location: str, *, create: bool) -> None:
    """Bring the memory to SCHEMA_VERSION in one transaction, under an advisory lock (safe
    across processes: DDL is transactional in Postgres, and the second process finds the
    schema done).

    Raises:
        MemoryNotFoundError: no memory here and not `create`.
        MemoryStoreError: see `check_schema`.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        version = check_schema(conn, location)
        if version == SCHEMA_VERSION:
            return
        if version == 0 and not create:
            raise MemoryNotFoundError(f"{location}: no reflexrl memory in this database")
        for script in MIGRATIONS[version:]:
            conn.execute(script)
        conn.execute(f"DELETE FROM {VERSION_TABLE}")
        conn.execute(
            f"INSERT INTO {VERSION_TABLE} VALUES (%s, %s, now())", [APPLICATION, SCHEMA_VERSION]
        )


def require_current(conn: psycopg.Connection, location: str) -> None:
    """Refuse, without writing, a memory a read-only store cannot read as it is.

    Raises:
        MemoryNotFoundError: no memory here.
        MemoryStoreError: an older schema (open it for writing once to migrate it), or see
            `check_schema`.
    """
    with conn.transaction():
        version = check_schema(conn, location)
    if version == 0:
        raise MemoryNotFoundError(f"{location}: no reflexrl memory in this database")
    if version < SCHEMA_VERSION:
        msg = (
            f"{location}: memory schema version {version} is older than this reflexrl's "
            f"({SCHEMA_VERSION}); open it once for writing to migrate it"
        )
        raise MemoryStoreError(msg)
