"""The Postgres memory's run log: runs, their episodes and steps, failed attempts, evaluations.

Append-only, like the SQLite memory's (a run's status is the one thing that changes): the
aggregates can always be rebuilt from it (`reflexrl.memory.history`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ...records import Episode, Failure, RunInfo, Step
from ..sqlite.codecs import EPISODES, FAILURES, RUNS, STEPS
from .session import PostgresWriter, Session, now

__all__ = ["PostgresRunLog", "read_runs"]


class PostgresRunLog(PostgresWriter):
    """The `RunLog` of a Postgres memory."""

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        with self._reading() as db:
            return read_runs(db)

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The episodes of a run, in order, with their steps (two queries, however many;
        the steps of an episode logged between them are left out with it)."""
        steps_sql = """SELECT s.* FROM steps s JOIN episodes e ON e.id = s.episode_id
            WHERE e.run_id = %s ORDER BY s.episode_id, s.step_index"""
        sql = "SELECT * FROM episodes WHERE run_id = %s ORDER BY episode_index"
        with self._reading() as db:
            found = db.query(sql, [run_id])
            steps: dict[int, list[Step]] = {}
            for s in db.query(steps_sql, [run_id]):
                steps.setdefault(s["episode_id"], []).append(STEPS.from_row(s))
        return [EPISODES.from_row(r, steps=tuple(steps.get(r["id"], []))) for r in found]

    def episode(self, episode_id: int) -> Episode | None:
        """One episode by its id in the log (`episodes.id`), or None."""
        sql = "SELECT * FROM steps WHERE episode_id = %s ORDER BY step_index"
        with self._reading() as db:
            found = db.query("SELECT * FROM episodes WHERE id = %s", [episode_id])
            steps = tuple(STEPS.from_row(s) for s in db.query(sql, [episode_id]))
        return EPISODES.from_row(found[0], steps=steps) if found else None

    def failures(self, run_id: str) -> Sequence[Failure]:
        """The unfinished attempts of a run, oldest first."""
        sql = "SELECT * FROM failures WHERE run_id = %s ORDER BY id"
        with self._reading() as db:
            return [FAILURES.from_row(r) for r in db.query(sql, [run_id])]

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        record = RUNS.to_row(
            run, started_at=run.started_at or now(), finished_at=None, status="running"
        )
        with self._write(logged=False) as db:
            db.add("runs", record)

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished (or, with status "running", resumed)."""
        finished = None if status == "running" else now()
        sql = "UPDATE runs SET status = %s, finished_at = %s WHERE run_id = %s"
        with self._write(logged=False) as db:
            db.execute(sql, [status, finished, run_id])

    def record_failure(self, failure: Failure) -> None:
        """Log an attempt that did not finish (it credits nothing)."""
        record = FAILURES.to_row(failure, created_at=failure.created_at or now())
        with self._write(logged=False) as db:
            db.add("failures", record)

    def record_evaluation(
        self, suite: str, model: str, split: str, results: dict[str, Any]
    ) -> None:
        """Log a frozen evaluation's metrics (`{"before": ..., "after": ...}`: memory off and
        on), placed after the last episode logged. It changes no aggregate."""
        with self._write() as db:
            last = db.value("SELECT coalesce(max(id), 0) FROM episodes")
            record = {"suite": suite, "model": model, "split": split, "after_episode": last}
            db.add("evaluations", record | {"results": json.dumps(results), "created_at": now()})


def read_runs(db: Session) -> list[RunInfo]:
    """All runs, oldest first."""
    return [RUNS.from_row(r) for r in db.query("SELECT * FROM runs ORDER BY started_at, run_id")]
