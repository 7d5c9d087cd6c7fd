"""Schema of the SQLite memory file, versioned with `PRAGMA user_version`, and its migrations."""

from __future__ import annotations

import re
import sqlite3

from ...errors import MemoryStoreError

V1 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL, max_steps INTEGER NOT NULL, settings TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS episodes (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id),
    episode_index INTEGER NOT NULL, epoch INTEGER NOT NULL, suite TEXT NOT NULL,
    query TEXT NOT NULL, prompt TEXT NOT NULL, explored INTEGER NOT NULL, outcome TEXT NOT NULL,
    reward REAL NOT NULL, n_steps INTEGER NOT NULL, updated_memory INTEGER NOT NULL,
    messages TEXT NOT NULL, memory_blocks TEXT NOT NULL, error TEXT, created_at TEXT NOT NULL,
    UNIQUE (run_id, episode_index)
);
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY, episode_id INTEGER NOT NULL REFERENCES episodes(id),
    step_index INTEGER NOT NULL, prompt TEXT NOT NULL, credited_to TEXT NOT NULL,
    action TEXT NOT NULL, args TEXT NOT NULL, reward REAL NOT NULL, valid INTEGER NOT NULL,
    explored INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reward_events (
    id INTEGER PRIMARY KEY, step_id INTEGER NOT NULL REFERENCES steps(id),
    suite TEXT NOT NULL, prompt TEXT NOT NULL, action TEXT NOT NULL, reward REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS memory (
    suite TEXT NOT NULL, prompt TEXT NOT NULL, query TEXT, reward REAL NOT NULL,
    visits INTEGER NOT NULL, clarifications INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (suite, prompt)
);
CREATE TABLE IF NOT EXISTS memory_actions (
    suite TEXT NOT NULL, prompt TEXT NOT NULL, action TEXT NOT NULL, n INTEGER NOT NULL,
    reward REAL NOT NULL, PRIMARY KEY (suite, prompt, action)
);
CREATE TABLE IF NOT EXISTS resets (
    id INTEGER PRIMARY KEY, suite TEXT, last_event_id INTEGER NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS episodes_run ON episodes (run_id, episode_index);
CREATE INDEX IF NOT EXISTS steps_episode ON steps (episode_id, step_index);
CREATE INDEX IF NOT EXISTS events_prompt ON reward_events (suite, prompt);
"""

V2 = """
ALTER TABLE episodes ADD COLUMN usage TEXT NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(run_id),
    episode_index INTEGER NOT NULL, epoch INTEGER NOT NULL, query TEXT NOT NULL,
    prompt TEXT NOT NULL, error TEXT NOT NULL, usage TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_run ON failures (run_id, episode_index);
INSERT INTO failures (run_id, episode_index, epoch, query, prompt, error, usage, created_at)
    SELECT run_id, episode_index, epoch, query, prompt, coalesce(error, ''), '{}', created_at
    FROM episodes WHERE outcome = 'failed';
DELETE FROM episodes WHERE outcome = 'failed';
"""
"""Version 2: token usage and cost per episode; unfinished attempts move to `failures`, so
`episodes` holds exactly the finished episodes (one per index) and a resume retries the rest."""

V3 = """
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL, text_hash TEXT NOT NULL, dimensions INTEGER NOT NULL,
    vector BLOB NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (model, text_hash)
);
CREATE TABLE IF NOT EXISTS memory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
"""Version 3: the kNN lookup's embedding cache (float32 vectors keyed by embedding model and
the sha256 of the text) and the memory's embedding model (`memory_meta`)."""

V4 = """
ALTER TABLE resets ADD COLUMN kind TEXT NOT NULL DEFAULT 'reset';
ALTER TABLE resets ADD COLUMN after_episode INTEGER NOT NULL DEFAULT 0;
ALTER TABLE resets ADD COLUMN to_point TEXT;
ALTER TABLE resets ADD COLUMN to_episode INTEGER;
ALTER TABLE resets ADD COLUMN to_change INTEGER;
UPDATE resets SET after_episode = coalesce(
    (SELECT max(id) FROM episodes WHERE episodes.created_at <= resets.created_at), 0);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, split TEXT NOT NULL,
    after_episode INTEGER NOT NULL, results TEXT NOT NULL, created_at TEXT NOT NULL
);
"""
"""Version 4: `resets` holds every change of the aggregates that is not an episode's credit,
placed in the log after episode `after_episode` (an `episodes.id`): a reset (to empty) or a
rollback (`kind = 'rollback'`: to the point `to_point`, after episode `to_episode` and change
`to_change`). Resets of older files are placed by their time. `evaluations`: frozen
evaluations recorded with `eval --record` (their metrics, memory off and on), placed after
the episode logged last before them."""

V5 = """
CREATE TABLE IF NOT EXISTS pending_episodes (
    number INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, suite TEXT NOT NULL,
    thread_id TEXT, prompt TEXT NOT NULL, decisions TEXT NOT NULL, proposed TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, status TEXT NOT NULL,
    settled_by TEXT, settled_at TEXT, comment TEXT
);
CREATE INDEX IF NOT EXISTS pending_due ON pending_episodes (status, expires_at);
CREATE INDEX IF NOT EXISTS pending_suite ON pending_episodes (suite, status);
"""
"""Version 5: the invocations of agents that learn outside training (`learn=True`), waiting
for their reward (`pending`), then `credited` (once: the episode is in `episodes`) or
`expired`."""

V6 = """
ALTER TABLE steps ADD COLUMN also_prompt INTEGER NOT NULL DEFAULT 0;
"""
"""Version 6: a step may credit the prompt it saw as well as the one it is credited to
(`Step.also_prompt`: a tool called after the user's answer, learning online)."""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6)
"""MIGRATIONS[i] takes the schema from version i to version i + 1."""

SCHEMA_VERSION = len(MIGRATIONS)
_CREATED = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")


def tables_of(version: int) -> frozenset[str]:
    """The tables a memory file of schema `version` has."""
    return frozenset(t for script in MIGRATIONS[:version] for t in _CREATED.findall(script))


def check_schema(conn: sqlite3.Connection, location: str) -> int:
    """The file's schema version, if it is a reflexrl memory this version can use.

    Reads only. An empty file (version 0, no tables) is a new memory.

    Raises:
        MemoryStoreError: not SQLite, a newer schema, or not a reflexrl memory (tables of
            another application, or tables missing for its version).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        msg = (
            f"{location}: memory schema version {version} is newer than this reflexrl "
            f"understands ({SCHEMA_VERSION}); upgrade reflexrl"
        )
        raise MemoryStoreError(msg)
    found = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    foreign = found - tables_of(SCHEMA_VERSION)
    if version == 0 and foreign:
        others = ", ".join(sorted(foreign)[:5])
        raise MemoryStoreError(f"{location}: not a reflexrl memory database (tables: {others})")
    missing = sorted(tables_of(version) - found)
    if missing:
        msg = (
            f"{location}: not a usable reflexrl memory database (schema version {version} "
            f"but no table {missing[0]})"
        )
        raise MemoryStoreError(msg)
    return version


def migrate(conn: sqlite3.Connection, location: str) -> None:
    """Bring the file to SCHEMA_VERSION in one immediate transaction (safe across processes)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = check_schema(conn, location)
        for script in MIGRATIONS[version:]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
