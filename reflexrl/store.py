"""The memory store interface every value store implements (lookup table, kNN, Postgres)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from .records import Episode, MemoryRow, RunInfo

SortKey = Literal["reward", "visits", "prompt"]


@runtime_checkable
class MemoryStore(Protocol):
    """Reward memory keyed by (suite, prompt), plus the append-only log it is built from.

    Callers (middleware, runner, CLI, reports) use only these methods, so a new store
    (an embedding-kNN store, a Postgres store for a fleet) plugs in without changing them.
    """

    location: str
    """Where the store lives (a path or a URL), for messages and reports."""

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The memory of one prompt, or None if it was never credited."""
        ...

    def rows(
        self,
        suite: str | None = None,
        *,
        sort: SortKey = "prompt",
        limit: int | None = None,
        actions: bool = True,
    ) -> Sequence[MemoryRow]:
        """All rows (of one suite), sorted; the highest reward or visits first.

        With `actions=False` the rows carry no per-action detail (cheaper to read).
        """
        ...

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        ...

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append an episode (and its steps) and, if `update`, credit its rewards: atomically."""
        ...

    def finish_run(self, run_id: str, status: str) -> None:
        """Mark a run finished ("completed", "failed", "interrupted")."""
        ...

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        ...

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The episodes of a run, in order."""
        ...

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the log is kept. Returns rows removed."""
        ...
