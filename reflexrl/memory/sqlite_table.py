"""The paper's lookup table: reward memory per (suite, prompt) in a SQLite file.

Every episode is appended to the log (episodes, steps, reward events) and credited to the
aggregates (memory, memory_actions) in one `BEGIN IMMEDIATE` transaction, so several processes
can train into one file and the aggregates always equal the sum of the logged reward events.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import BadInputError, MemoryStoreError
from ..files.sqlite import (
    ReadOnlyFile,
    check_integrity,
    check_path,
    check_writable,
    connect,
    is_empty,
)
from ..records import ActionStats, Episode, Failure, MemoryRow, RunInfo, Step
from ..safety.redaction import redact, redact_error
from ..safety.text import for_storage
from ..usage import Usage
from .credit import RewardCredit, credits
from .history import Point, check_rollback, resolve_point, rows_at
from .lookup import ExactLookup, Lookup
from .protocols import LookupKind, MemoryReader, Neighbour, SortKey
from .schema import SCHEMA_VERSION, check_schema, migrate

_ORDER = {
    "reward": "reward DESC, prompt",
    "visits": "visits DESC, prompt",
    "prompt": "suite, prompt",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Reader:
    """The reading half of the table, shared by the table and its snapshots."""

    db: sqlite_utils.Database
    location: str
    finder: Lookup

    @property
    def lookup_kind(self) -> LookupKind:
        """How `nearest` finds rows ("exact" or "knn")."""
        return self.finder.kind

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The memory of one prompt, or None if it was never credited."""
        found = self._rows("WHERE suite = ? AND prompt = ?", [suite, prompt], "prompt", None, True)
        return found[0] if found else None

    def nearest(self, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The rows that inform `prompt`, as the store's lookup finds them."""
        return self.finder.nearest(self, suite, prompt)

    def lookup_many(self, suite: str, prompts: Sequence[str]) -> dict[str, MemoryRow]:
        """The rows of several prompts at once (those that have one), by prompt."""
        if not prompts:
            return {}
        marks = ", ".join("?" * len(prompts))
        where = f"WHERE suite = ? AND prompt IN ({marks})"
        found = self._rows(where, [suite, *prompts], "prompt", None, True)
        return {r.prompt: r for r in found}

    def prompts_after(self, suite: str, after: int) -> list[tuple[int, str]]:
        """(id, prompt) of the suite's rows whose id is above `after`, in id order: what a
        kNN index has not seen yet (ids grow as rows are added). NOT INDEXED: a range of row
        ids, not a scan of the suite's every row through the (suite, prompt) key."""
        sql = (
            "SELECT rowid, prompt FROM memory NOT INDEXED "
            "WHERE suite = ? AND rowid > ? ORDER BY rowid"
        )
        return [(int(i), str(p)) for i, p in self.db.execute(sql, _storable([suite, after]))]

    def rows(
        self,
        suite: str | None = None,
        *,
        sort: SortKey = "prompt",
        limit: int | None = None,
        actions: bool = True,
    ) -> Sequence[MemoryRow]:
        """All rows (of one suite), sorted by reward or visits (highest first) or prompt."""
        where, params = ("WHERE suite = ?", [suite]) if suite else ("", [])
        return self._rows(where, params, sort, limit, actions)

    def _rows(
        self, where: str, params: list[Any], sort: SortKey, limit: int | None, actions: bool
    ) -> list[MemoryRow]:
        sql = f"SELECT * FROM memory {where} ORDER BY {_ORDER[sort]}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = list(self.db.query(sql, _storable(params)))
        detail = self._actions(where, params) if actions else {}
        return [_memory_row(r, detail.get((r["suite"], r["prompt"]), {})) for r in rows]

    def _actions(
        self, where: str, params: list[Any]
    ) -> dict[tuple[str, str], dict[str, ActionStats]]:
        out: dict[tuple[str, str], dict[str, ActionStats]] = {}
        sql = f"SELECT * FROM memory_actions {where} ORDER BY action"
        for r in self.db.query(sql, _storable(params)):
            out.setdefault((r["suite"], r["prompt"]), {})[r["action"]] = ActionStats(
                r["n"], r["reward"]
            )
        return out


class _ReaderPool:
    """Read connections to one file, kept open between snapshots (a training run takes one
    per episode; opening a connection each time costs more than the reads themselves)."""

    def __init__(self, opener: Callable[..., sqlite3.Connection]) -> None:
        self._open = opener
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open(check_same_thread=False)  # opened by a hook, read by the loop

    def give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class MemorySnapshot(_Reader):
    """The memory as of the moment the snapshot was taken (a pinned WAL read transaction)."""

    def __init__(self, pool: _ReaderPool, location: str, finder: Lookup) -> None:
        self.location, self.finder = location, finder
        self._pool = pool
        conn = pool.take()
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM memory").fetchone()  # pins the snapshot
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        """End the read transaction (the connection goes back to the table's pool)."""
        self.db.conn.rollback()
        self._pool.give_back(self.db.conn)


class _LiveView(_Reader):
    """The table itself, read through a view whose `close` leaves the table open."""

    def __init__(self, table: _Reader) -> None:
        self.db, self.location, self.finder = table.db, table.location, table.finder

    def close(self) -> None:
        """Nothing to release."""


class RewardTable(_Reader):
    """Lookup-table memory stored in SQLite (WAL, versioned schema, exact under concurrency).

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
        opener = self._file.connect if self._file is not None else partial(connect, self.path)
        self._readers = _ReaderPool(opener)
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

    def __enter__(self) -> RewardTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (and the idle read connections of finished snapshots)."""
        self._readers.close()
        if self._file is not None:
            self._file.close()  # the main connection, and the side files it caused
        else:
            self.db.close()

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

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> MemoryReader:
        """A read-only view of the memory as it is now, unaffected by later writes.

        An in-memory table (":memory:", or the migrated copy of an older file opened
        read-only) cannot be opened twice: its view is the live table.
        """
        if self.location == ":memory:" or (self.read_only and self._file is None):
            return _LiveView(self)
        return MemorySnapshot(self._readers, self.location, self.finder)

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        return [_run_info(r) for r in self.db.query("SELECT * FROM runs ORDER BY started_at")]

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The episodes of a run, in order, with their steps (two queries, however many)."""
        sql = """SELECT s.* FROM steps s JOIN episodes e ON e.id = s.episode_id
            WHERE e.run_id = ? ORDER BY s.episode_id, s.step_index"""
        steps: dict[int, list[Step]] = {}
        for s in self.db.query(sql, [run_id]):
            steps.setdefault(s["episode_id"], []).append(_step(s))
        sql = "SELECT * FROM episodes WHERE run_id = ? ORDER BY episode_index"
        return [_episode(r, steps.get(r["id"], [])) for r in self.db.query(sql, [run_id])]

    def episode(self, episode_id: int) -> Episode | None:
        """One episode by its id in the log (`episodes.id`), or None."""
        found = list(self.db.query("SELECT * FROM episodes WHERE id = ?", [episode_id]))
        if not found:
            return None
        sql = "SELECT * FROM steps WHERE episode_id = ? ORDER BY step_index"
        return _episode(found[0], [_step(s) for s in self.db.query(sql, [episode_id])])

    def failures(self, run_id: str) -> Sequence[Failure]:
        """The unfinished attempts of a run, oldest first."""
        sql = "SELECT * FROM failures WHERE run_id = ? ORDER BY id"
        return [_failure(r) for r in self.db.query(sql, [run_id])]

    # -- writing ---------------------------------------------------------------------------

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        record = {
            "run_id": run.run_id,
            "suite": run.suite,
            "model": run.model,
            "seed": run.seed,
            "epochs": run.epochs,
            "max_steps": run.max_steps,
            "settings": redact(json.dumps(dict(run.settings), sort_keys=True)),
            "started_at": run.started_at or _now(),
            "finished_at": None,
            "status": "running",
        }
        with self._write() as db:
            _insert(db, "runs", record)

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished (or, with status "running", resumed)."""
        finished = None if status == "running" else _now()
        with self._write() as db:
            db.table("runs").update(run_id, {"status": status, "finished_at": finished})

    def record_failure(self, failure: Failure) -> None:
        """Log an attempt that did not finish (it credits nothing)."""
        record = {
            "run_id": failure.run_id,
            "episode_index": failure.index,
            "epoch": failure.epoch,
            "query": failure.query,
            "prompt": failure.prompt,
            "error": redact_error(failure.error),
            "usage": json.dumps(failure.usage.to_json()),
            "created_at": failure.created_at or _now(),
        }
        with self._write() as db:
            _insert(db, "failures", record)

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append the episode and its steps; if `update`, apply its credits. One transaction.

        Raises:
            BadInputError: a step's reward is not finite (it would poison every sum).
        """
        for step in episode.steps:
            if not math.isfinite(step.reward):
                msg = f"episode {episode.index}: step {step.index} has reward {step.reward}"
                raise BadInputError(msg + "; rewards must be finite")
        now = _now()
        with self._write() as db:
            episode_id = _insert(db, "episodes", _episode_record(episode, update, now))
            step_ids = {
                step.index: _insert(db, "steps", _step_record(step, episode_id, episode))
                for step in episode.steps
            }
            for credit in credits(episode) if update else ():
                _apply(db, credit, step_ids[credit.step_index], now)

    # -- embeddings (the kNN lookup's cache) --------------------------------------------------

    def index_folder(self) -> Path | None:
        """Where a kNN lookup keeps its large vector indexes: `<file>.knn/` beside the file
        (None for ":memory:")."""
        return None if self.location == ":memory:" else _index_folder(self.path)

    @staticmethod
    def files(path: str | Path) -> tuple[Path, ...]:
        """Every file a memory at `path` is made of: the database, SQLite's side files and
        the kNN index folder (an output must never replace one of them)."""
        path = Path(path)
        sides = [path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")]
        return (path, *sides, _index_folder(path))

    def embedding_model(self) -> str | None:
        """The embedding model this memory's kNN lookup was built with (None: not yet)."""
        sql = "SELECT value FROM memory_meta WHERE key = 'embedding_model'"
        found = self.db.execute(sql).fetchone()
        return None if found is None else str(found[0])

    def bind_embedding_model(self, model_id: str) -> None:
        """Record the embedding model (the first time), or refuse a different one.

        Raises:
            MemoryStoreError: the file was built with another embedding model.
        """
        recorded = self.embedding_model()
        if recorded is None and not self.read_only:
            with self._write() as db:
                db.execute(
                    "INSERT OR IGNORE INTO memory_meta VALUES ('embedding_model', ?)",
                    _storable([model_id]),
                )
            recorded = self.embedding_model()
        if recorded is not None and recorded != model_id:
            msg = (
                f"{self.location}: its kNN lookup was built with the embedding model "
                f"'{recorded}', not '{model_id}' (vectors of two models cannot be compared)"
            )
            raise MemoryStoreError(msg)

    def cached_vectors(self, model_id: str, hashes: Sequence[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of the texts with these hashes, by hash."""
        found: dict[str, bytes] = {}
        for start in range(0, len(hashes), 500):
            chunk = list(hashes[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            sql = (
                "SELECT text_hash, vector FROM embeddings "
                f"WHERE model = ? AND text_hash IN ({marks})"
            )
            found.update(self.db.execute(sql, _storable([model_id, *chunk])).fetchall())
        return found

    def cache_vectors(self, model_id: str, vectors: dict[str, bytes]) -> None:
        """Keep embeddings (float32 bytes by text hash) in the file (nothing if read-only)."""
        if self.read_only or not vectors:
            return
        now = _now()
        rows = [(model_id, h, len(v) // 4, v, now) for h, v in vectors.items()]
        with self._write() as db:
            db.conn.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?, ?, ?)", rows)

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the append-only log is kept."""
        with self._write() as db:
            removed = _clear(db, suite)
            _insert(db, "resets", _change_record(db, suite, "reset"))
        return removed

    def record_evaluation(
        self, suite: str, model: str, split: str, results: dict[str, Any]
    ) -> None:
        """Log a frozen evaluation's metrics (`{"before": ..., "after": ...}`: memory off and
        on), placed after the last episode logged. It changes no aggregate."""
        with self._write() as db:
            last = db.execute("SELECT coalesce(max(id), 0) FROM episodes").fetchone()[0]
            record = {"suite": suite, "model": model, "split": split, "after_episode": last}
            _insert(
                db, "evaluations", record | {"results": json.dumps(results), "created_at": _now()}
            )

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
            _clear(db, suite)
            for row in rows:
                _restore(db, row)
            record = _change_record(db, suite, "rollback")
            record |= {"to_point": point.label, "to_episode": point.episode}
            return _insert(db, "resets", record | {"to_change": point.change})


def _index_folder(path: Path) -> Path:
    return path.with_name(path.name + ".knn")


def _clear(db: sqlite_utils.Database, suite: str | None) -> int:
    """Delete the aggregates (of one suite); returns the rows removed."""
    where, params = ("WHERE suite = ?", [suite]) if suite else ("", [])
    removed = db.execute(f"DELETE FROM memory {where}", _storable(params)).rowcount
    db.execute(f"DELETE FROM memory_actions {where}", _storable(params))
    return int(removed)


def _change_record(db: sqlite_utils.Database, suite: str | None, kind: str) -> dict[str, Any]:
    """A `resets` row: the change, placed in the log after the last event and episode."""
    last_event = db.execute("SELECT coalesce(max(id), 0) FROM reward_events").fetchone()[0]
    last_episode = db.execute("SELECT coalesce(max(id), 0) FROM episodes").fetchone()[0]
    return {
        "suite": suite,
        "kind": kind,
        "last_event_id": last_event,
        "after_episode": last_episode,
        "created_at": _now(),
    }


def _restore(db: sqlite_utils.Database, row: MemoryRow) -> None:
    """Write a row rebuilt by replay back into the aggregates."""
    values = [row.suite, row.prompt, row.query, row.reward, row.visits, row.clarifications]
    values.append(row.updated_at)
    db.execute("INSERT INTO memory VALUES (?, ?, ?, ?, ?, ?, ?)", _storable(values))
    for action, stats in row.actions.items():
        db.execute(
            "INSERT INTO memory_actions VALUES (?, ?, ?, ?, ?)",
            _storable([row.suite, row.prompt, action, stats.n, stats.reward]),
        )


def _apply(db: sqlite_utils.Database, credit: RewardCredit, step_id: int, now: str) -> None:
    """Apply one credit: a reward event, the prompt's aggregate, its action's record."""
    event = {
        "step_id": step_id,
        "suite": credit.suite,
        "prompt": credit.prompt,
        "action": credit.action,
        "reward": credit.reward,
        "created_at": now,
    }
    _insert(db, "reward_events", event)
    row = [credit.suite, credit.prompt, credit.query, credit.reward, credit.clarification, now]
    db.execute(
        """INSERT INTO memory VALUES (?, ?, ?, ?, 1, ?, ?)
           ON CONFLICT (suite, prompt) DO UPDATE SET reward = reward + excluded.reward,
           visits = visits + 1, clarifications = clarifications + excluded.clarifications,
           updated_at = excluded.updated_at""",
        _storable(row),
    )
    db.execute(
        """INSERT INTO memory_actions VALUES (?, ?, ?, 1, ?)
           ON CONFLICT (suite, prompt, action) DO UPDATE SET n = n + 1,
           reward = reward + excluded.reward""",
        _storable([credit.suite, credit.prompt, credit.action, credit.reward]),
    )


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


def _insert(db: sqlite_utils.Database, table: str, record: dict[str, Any]) -> int:
    """Insert one row, returning its rowid (plain SQL: `Table.insert` re-reads the table's
    schema on every call, which costs more than the insert on the training hot path)."""
    columns = ", ".join(record)
    marks = ", ".join("?" * len(record))
    values = _storable(list(record.values()))
    cursor = db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)
    return int(cursor.lastrowid or 0)


def _storable(params: list[Any]) -> list[Any]:
    """Query parameters with every string as SQLite can hold it (see `for_storage`)."""
    return [for_storage(p) if isinstance(p, str) else p for p in params]


def _episode_record(episode: Episode, update: bool, now: str) -> dict[str, Any]:
    return {
        "run_id": episode.run_id,
        "episode_index": episode.index,
        "epoch": episode.epoch,
        "suite": episode.suite,
        "query": episode.query,
        "prompt": episode.prompt,
        "explored": episode.explored,
        "outcome": episode.outcome,
        "reward": episode.reward,
        "n_steps": len(episode.steps),
        "updated_memory": update,
        "messages": redact(json.dumps(list(episode.messages), default=str)),
        "memory_blocks": json.dumps(list(episode.memory_blocks)),
        "usage": json.dumps(episode.usage.to_json()),
        "created_at": now,
    }


def _step_record(step: Step, episode_id: Any, episode: Episode) -> dict[str, Any]:
    return {
        "episode_id": episode_id,
        "step_index": step.index,
        "prompt": step.prompt,
        "credited_to": step.credit_key,
        "action": step.action,
        "args": redact(json.dumps(dict(step.args), default=str)),
        "reward": step.reward,
        "valid": step.valid,
        "explored": episode.explored,
    }


def _episode(r: dict[str, Any], steps: Sequence[Step]) -> Episode:
    return Episode(
        run_id=r["run_id"],
        index=r["episode_index"],
        epoch=r["epoch"],
        suite=r["suite"],
        query=r["query"],
        prompt=r["prompt"],
        explored=bool(r["explored"]),
        outcome=r["outcome"],
        steps=tuple(steps),
        messages=tuple(json.loads(r["messages"])),
        memory_blocks=tuple(json.loads(r["memory_blocks"])),
        usage=Usage.from_json(json.loads(r["usage"])),
    )


def _step(r: dict[str, Any]) -> Step:
    return Step(
        index=r["step_index"],
        prompt=r["prompt"],
        action=r["action"],
        args=json.loads(r["args"]),
        reward=r["reward"],
        valid=bool(r["valid"]),
        credited_to=r["credited_to"],
    )


def _memory_row(r: dict[str, Any], actions: dict[str, ActionStats]) -> MemoryRow:
    return MemoryRow(
        suite=r["suite"],
        prompt=r["prompt"],
        query=r["query"],
        reward=r["reward"],
        visits=r["visits"],
        clarifications=r["clarifications"],
        actions=actions,
        updated_at=r["updated_at"],
    )


def _failure(r: dict[str, Any]) -> Failure:
    return Failure(
        run_id=r["run_id"],
        index=r["episode_index"],
        epoch=r["epoch"],
        query=r["query"],
        prompt=r["prompt"],
        error=r["error"],
        usage=Usage.from_json(json.loads(r["usage"])),
        created_at=r["created_at"],
    )


def _run_info(r: dict[str, Any]) -> RunInfo:
    return RunInfo(
        run_id=r["run_id"],
        suite=r["suite"],
        model=r["model"],
        seed=r["seed"],
        epochs=r["epochs"],
        max_steps=r["max_steps"],
        settings=json.loads(r["settings"]),
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        status=r["status"],
    )
