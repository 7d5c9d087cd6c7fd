"""What callers need from a memory, as small protocols every store and lookup implements.

- `MemoryReader`: what renderers read (a prompt's row, the k nearest rows, every row);
- `RunLog`: the runs, episodes and failed attempts a store keeps;
- `EpisodeWriter`: the one write that learns: an episode logged and credited atomically;
- `MemoryHistory`: the memory at any point of its log, and a rollback to one;
- `PendingLog`: invocations outside training waiting for their reward, settled once;
- `MemoryStore`: all five, plus snapshots (what an episode sees) and resets.

A new backend (Postgres for a fleet) implements these; `tests/memory/test_memory_conformance.py`
runs the same tests over every store and lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ..records import Episode, Failure, MemoryRow, PendingEpisode, PendingStatus, RunInfo
from .history import Point
from .ordering import SortKey

LookupKind = Literal["exact", "knn"]
"""How a prompt finds its memory: its own row only (`exact`, the paper's lookup table), or
the rows of the most similar stored prompts (`knn`, by embedding)."""


@dataclass(frozen=True)
class Neighbour:
    """A stored row found for a prompt, and how similar its prompt is (1.0: the same text)."""

    row: MemoryRow
    similarity: float


@runtime_checkable
class MemoryReader(Protocol):
    """Read access to the memory: what the agent's prompt is rendered from."""

    location: str
    """Where the store lives (a path or a URL), for messages and reports."""

    @property
    def lookup_kind(self) -> LookupKind:
        """How `nearest` finds rows."""
        ...

    def lookup(self, suite: str, prompt: str) -> MemoryRow | None:
        """The memory of one prompt, or None if it was never credited."""
        ...

    def nearest(self, suite: str, prompt: str) -> Sequence[Neighbour]:
        """The rows that inform `prompt`, most similar first: with the exact lookup its own
        row (similarity 1.0) if it has one; with kNN the k nearest rows above the threshold."""
        ...

    def served(self, suite: str) -> frozenset[str]:
        """The actions that earned a positive mean reward on some stored prompt of `suite`."""
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
        """Release what the reader holds."""
        ...


@runtime_checkable
class RunLog(Protocol):
    """The append-only log of runs: what ran, every finished episode, every failed attempt."""

    location: str

    def start_run(self, run: RunInfo) -> None:
        """Log the start of a run."""
        ...

    def finish_run(self, run_id: str, status: str) -> None:
        """Set a run's status ("running" again on resume; see `reflexrl.loop.session.RunStatus`)."""
        ...

    def record_failure(self, failure: Failure) -> None:
        """Log an attempt that did not finish; it credits nothing."""
        ...

    def runs(self) -> Sequence[RunInfo]:
        """All runs, oldest first."""
        ...

    def record_evaluation(
        self, suite: str, model: str, split: str, results: dict[str, Any]
    ) -> None:
        """Log a frozen evaluation's metrics, memory off and on (`before`, `after`)."""
        ...

    def episodes(self, run_id: str) -> Sequence[Episode]:
        """The finished episodes of a run, in order."""
        ...

    def failures(self, run_id: str) -> Sequence[Failure]:
        """The unfinished attempts of a run, oldest first."""
        ...


@runtime_checkable
class EpisodeWriter(Protocol):
    """The write that learns."""

    def record_episode(self, episode: Episode, *, update: bool = True) -> None:
        """Append an episode (and its steps) and, if `update`, apply its credits
        (`reflexrl.memory.credit.credits`): all or nothing."""
        ...


@runtime_checkable
class MemoryHistory(Protocol):
    """The aggregates at any point of the log, rebuilt from it, and a rollback to one."""

    def point(self, text: str) -> Point:
        """The moment of the log `text` names (`start`, `now`, `RUN`, `RUN:EPISODE`, a time,
        `change:N`, `before-change:N`); raises `BadInputError` if there is none."""
        ...

    def rows_at(self, point: Point, suite: str | None = None) -> Sequence[MemoryRow]:
        """The rows (of one suite) as they were at `point`, sorted by (suite, prompt)."""
        ...

    def rollback(self, point: Point, suite: str | None = None) -> int:
        """Return the aggregates (of one suite) to `point`, logging the rollback as a change
        (undone by rolling back to `before-change:N`); returns N. Refuses (`BadInputError`,
        nothing written) a suite the memory does not hold and a rollback that would change
        nothing (`history.check_rollback`)."""
        ...


@runtime_checkable
class PendingLog(Protocol):
    """Invocations of agents that learn outside training (`learn=True`), each credited once
    when its reward arrives (`reflexrl.rewards.online`)."""

    def log_pending(self, episode: PendingEpisode) -> PendingEpisode:
        """Keep an invocation until its reward arrives (the same run id twice keeps the
        first); returns the stored record, numbered."""
        ...

    def pending_episode(self, run_id: str) -> PendingEpisode | None:
        """A logged invocation, whatever its status (None: never logged)."""
        ...

    def propose_pending(self, run_id: str, rewards: Mapping[int, float]) -> PendingEpisode:
        """If `run_id` is still pending: add `rewards` (by decision index) to its proposed
        ones where it has none, in one transaction (a judge that answers after the
        invocation was logged). Returns it as it is after. Raises `FeedbackError` for a run
        id never logged."""
        ...

    def settle_pending(
        self, run_id: str, episode: Episode | None, by: str, comment: str | None = None
    ) -> PendingEpisode:
        """If `run_id` is still pending: credit `episode` (the one atomic episode write, in
        the suite's learning run at the invocation's number; None: mark it expired) and
        record `by` and `comment`, in one transaction. Returns the invocation as it
        was before: status "pending" means this call settled it. Raises `FeedbackError` for
        a run id never logged."""
        ...

    def invocations(
        self, suite: str | None = None, status: PendingStatus | None = None
    ) -> Sequence[PendingEpisode]:
        """The logged invocations (of one suite, with one status), oldest first."""
        ...

    def due_pending(self, at: str, limit: int = 1000) -> Sequence[PendingEpisode]:
        """Pending invocations whose time ran out at `at` (an ISO time), oldest first."""
        ...

    def pending_counts(self, suite: str | None = None) -> Mapping[PendingStatus, int]:
        """How many invocations are pending, credited and expired (of one suite)."""
        ...


@runtime_checkable
class MemoryStore(MemoryReader, RunLog, EpisodeWriter, MemoryHistory, PendingLog, Protocol):
    """A reward memory with its log: what the middleware, the runner and the CLI use.

    Open one with `reflexrl.open_memory`.
    """

    def snapshot(self) -> MemoryReader:
        """The memory as it is now, unchanged by later writes (what an episode sees)."""
        ...

    def reset(self, suite: str | None = None) -> int:
        """Forget the aggregates (of one suite); the log is kept. Returns rows removed."""
        ...
