"""The memory store interface every value store implements (lookup table, kNN, Postgres)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from .records import Episode, Failure, MemoryRow, RunInfo

SortKey = Literal["reward", "visits", "prompt"]


@runtime_checkable
class MemoryReader(Protocol):
    """Read access to the memory: what the agent's prompt is rendered from."""

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

    def close(self) -> None:
        """Release the connection."""
        ...


@runtime_checkable
class MemoryStore(MemoryReader, Protocol):
    """Reward memory keyed by (suite, prompt), plus the append-only log it is built from.

    Callers (middleware, runner, CLI, reports) use only these methods, so a new store
    (an embedding-kNN store, a Postgres store for a fleet) plugs in without changing them.
    """

    def snapshot(self) -> MemoryReader:
        """The memory as it is now, unchanged by later writes (what an episode sees)."""
        ...

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        ...

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append an episode (and its steps) and, if `update`, credit its rewards: atomically."""
        ...

    def record_failure(self, failure: Failure) -> None:
        """Log an attempt that did not finish; it credits nothing."""
        ...

    def finish_run(self, run_id: str, status: str) -> None:
        """Set a run's status ("running" again on resume; see `reflexrl.runner.RunStatus`)."""
        ...

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        ...

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The finished episodes of a run, in order."""
        ...

    def failures(self, run_id: str) -> Sequence[Failure]:
        """The unfinished attempts of a run, oldest first."""
        ...

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the log is kept. Returns rows removed."""
        ...
