"""The SQLite memory's run log: runs, their episodes and steps, failed attempts, evaluations.

The log is append-only (a run's status is the one thing that changes): the aggregates can
always be rebuilt from it (`reflexrl.memory.history`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import sqlite_utils

from ...errors import BadInputError
from ...records import Episode, Failure, RunInfo, Step
from ..credit import credits
from .aggregates import apply_credit
from .codecs import EPISODES, FAILURES, RUNS, STEPS
from .writer import SQLiteWriter, insert, now

__all__ = ["SQLiteRunLog", "append_episode", "check_rewards"]


class SQLiteRunLog(SQLiteWriter):
    """The `RunLog` of a SQLite memory."""

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        return [RUNS.from_row(r) for r in self.db.query("SELECT * FROM runs ORDER BY started_at")]

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The episodes of a run, in order, with their steps (two queries, however many)."""
        sql = """SELECT s.* FROM steps s JOIN episodes e ON e.id = s.episode_id
            WHERE e.run_id = ? ORDER BY s.episode_id, s.step_index"""
        steps: dict[int, list[Step]] = {}
        for s in self.db.query(sql, [run_id]):
            steps.setdefault(s["episode_id"], []).append(STEPS.from_row(s))
        sql = "SELECT * FROM episodes WHERE run_id = ? ORDER BY episode_index"
        return [
            EPISODES.from_row(r, steps=tuple(steps.get(r["id"], [])))
            for r in self.db.query(sql, [run_id])
        ]

    def episode(self, episode_id: int) -> Episode | None:
        """One episode by its id in the log (`episodes.id`), or None."""
        found = list(self.db.query("SELECT * FROM episodes WHERE id = ?", [episode_id]))
        if not found:
            return None
        sql = "SELECT * FROM steps WHERE episode_id = ? ORDER BY step_index"
        steps = tuple(STEPS.from_row(s) for s in self.db.query(sql, [episode_id]))
        return EPISODES.from_row(found[0], steps=steps)

    def failures(self, run_id: str) -> Sequence[Failure]:
        """The unfinished attempts of a run, oldest first."""
        sql = "SELECT * FROM failures WHERE run_id = ? ORDER BY id"
        return [FAILURES.from_row(r) for r in self.db.query(sql, [run_id])]

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        record = RUNS.to_row(
            run, started_at=run.started_at or now(), finished_at=None, status="running"
        )
        with self._write() as db:
            insert(db, "runs", record)

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished (or, with status "running", resumed)."""
        finished = None if status == "running" else now()
        with self._write() as db:
            db.table("runs").update(run_id, {"status": status, "finished_at": finished})

    def record_failure(self, failure: Failure) -> None:
        """Log an attempt that did not finish (it credits nothing)."""
        record = FAILURES.to_row(failure, created_at=failure.created_at or now())
        with self._write() as db:
            insert(db, "failures", record)

    def record_evaluation(
        self, suite: str, model: str, split: str, results: dict[str, Any]
    ) -> None:
        """Log a frozen evaluation's metrics (`{"before": ..., "after": ...}`: memory off and
        on), placed after the last episode logged. It changes no aggregate."""
        with self._write() as db:
            last = db.execute("SELECT coalesce(max(id), 0) FROM episodes").fetchone()[0]
            record = {"suite": suite, "model": model, "split": split, "after_episode": last}
            insert(
                db, "evaluations", record | {"results": json.dumps(results), "created_at": now()}
            )


def check_rewards(episode: Episode) -> None:
    """Refuse (`BadInputError`) a step reward that is not finite: it would poison every sum."""
    for step in episode.steps:
        if not math.isfinite(step.reward):
            msg = f"episode {episode.index}: step {step.index} has reward {step.reward}"
            raise BadInputError(msg + "; rewards must be finite")


def append_episode(db: sqlite_utils.Database, episode: Episode, *, update: bool) -> None:
    """Append the episode and its steps and, if `update`, apply its credits, inside the
    caller's write transaction."""
    at = now()
    record = EPISODES.to_row(
        episode,
        reward=episode.reward,
        n_steps=len(episode.steps),
        updated_memory=update,
        created_at=at,
    )
    episode_id = insert(db, "episodes", record)
    step_ids = {
        step.index: insert(db, "steps", _step_row(step, episode_id, episode))
        for step in episode.steps
    }
    for credit in credits(episode) if update else ():
        apply_credit(db, credit, step_ids[credit.step_index], at)


def _step_row(step: Step, episode_id: int, episode: Episode) -> dict[str, Any]:
    """A step's row: its episode's id, and the prompt it is credited to spelt out."""
    return STEPS.to_row(
        step, episode_id=episode_id, credited_to=step.credit_key, explored=episode.explored
    )
