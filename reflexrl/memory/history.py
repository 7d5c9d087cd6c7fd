"""The memory's history: its aggregates at any point of the log, rebuilt from the log alone.

The log is append-only and totally ordered: episodes (their reward events, in episode
order) and changes (a reset to empty, or a rollback to an earlier point), each change placed
after an episode. A `Point` is a moment of that order; `replay` applies the log up to it,
exactly as the store applied it (the same additions in the same order, so the floats are
equal, not close). A store reads its log into `Event`s and `Change`s (`sqlite/history.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import BadInputError
from ..records import CLARIFY, ActionStats, MemoryRow, RunInfo

Key = tuple[str, str]
"""(suite, prompt): a memory row's key."""


@dataclass(frozen=True)
class Point:
    """A moment of the log: after the episodes with id <= `episode` and the changes with
    id <= `change` (0: none of them)."""

    episode: int
    change: int
    label: str


@dataclass(frozen=True)
class Event:
    """One reward event, with the episode it belongs to."""

    episode: int
    suite: str
    prompt: str
    query: str
    action: str
    reward: float
    created_at: str


@dataclass(frozen=True)
class Change:
    """A change of the aggregates that is not a credit: a reset or a rollback."""

    id: int
    kind: str
    suite: str | None
    after_episode: int
    created_at: str
    to: Point | None = None
    """For a rollback: the point the aggregates returned to."""


@dataclass(frozen=True)
class RowChange:
    """A row that differs between two points (None: no row at that point)."""

    suite: str
    prompt: str
    before: MemoryRow | None
    after: MemoryRow | None

    def to_json(self) -> dict[str, Any]:
        """The `memory diff --json` shape."""
        return {
            "suite": self.suite,
            "prompt": self.prompt,
            "before": None if self.before is None else self.before.to_json(),
            "after": None if self.after is None else self.after.to_json(),
        }


@dataclass
class _Row:
    query: str
    reward: float = 0.0
    visits: int = 0
    clarifications: int = 0
    updated_at: str = ""
    actions: dict[str, list[float]] = field(default_factory=dict)
    """action -> [n, reward]"""

    def add(self, event: Event) -> None:
        self.reward += event.reward
        self.visits += 1
        self.clarifications += event.action == CLARIFY
        self.updated_at = event.created_at
        n_reward = self.actions.setdefault(event.action, [0, 0.0])
        n_reward[0] += 1
        n_reward[1] += event.reward

    def copy(self) -> _Row:
        actions = {a: list(v) for a, v in self.actions.items()}
        return replace(self, actions=actions)

    def frozen(self, key: Key) -> MemoryRow:
        actions = {a: ActionStats(int(n), r) for a, (n, r) in sorted(self.actions.items())}
        return MemoryRow(
            suite=key[0],
            prompt=key[1],
            query=self.query,
            reward=self.reward,
            visits=self.visits,
            clarifications=self.clarifications,
            actions=actions,
            updated_at=self.updated_at,
        )


State = dict[Key, _Row]
OnEvent = Callable[[Event, MemoryRow], None]


def diff(before: Iterable[MemoryRow], after: Iterable[MemoryRow]) -> list[RowChange]:
    """The rows whose reward, visits or best action differ (or that exist at one point only)."""
    old = {(r.suite, r.prompt): r for r in before}
    new = {(r.suite, r.prompt): r for r in after}
    return [
        RowChange(key[0], key[1], old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if _differs(old.get(key), new.get(key))
    ]


def check_rollback(
    now: Sequence[MemoryRow],
    target: Sequence[MemoryRow],
    *,
    point: Point,
    suite: str | None,
    runs: Iterable[RunInfo],
) -> None:
    """Refuse a rollback (of `suite`) from the rows `now` to the rows `target` at `point`
    that names a suite with neither a run nor a row, or would change nothing.

    Raises:
        BadInputError: the suite is not in the memory, or `target` is `now`.
    """
    known = sorted({r.suite for r in runs} | {r.suite for r in now})
    if suite is not None and suite not in known:
        names = ", ".join(known) or "none"
        raise BadInputError(f"suite '{suite}': not in the memory (its suites: {names})")
    if _keyed(now) == _keyed(target):
        msg = f"point '{point.label}': the rows there are the rows now: nothing to roll back"
        raise BadInputError(msg)


def _keyed(rows: Iterable[MemoryRow]) -> dict[Key, MemoryRow]:
    return {(r.suite, r.prompt): r for r in rows}


def _differs(a: MemoryRow | None, b: MemoryRow | None) -> bool:
    if a is None or b is None:
        return a is not b
    return (a.reward, a.visits, a.best_action()) != (b.reward, b.visits, b.best_action())


def replay(
    events: Sequence[Event],
    changes: Sequence[Change],
    point: Point,
    memo: dict[Point, State],
    on_event: OnEvent | None,
) -> State:
    """The state at `point`: events and changes up to it, in the log's order. A rollback
    restores the state at its target (replayed the same way, and memoized)."""
    state: State = {}
    pending = [c for c in changes if c.id <= point.change]
    at = 0
    for event in events:
        if event.episode > point.episode:
            break
        while at < len(pending) and pending[at].after_episode < event.episode:
            state = _change(state, pending[at], events, changes, memo)
            at += 1
        key = (event.suite, event.prompt)
        row = state.get(key)
        if row is None:
            row = state[key] = _Row(event.query)
        row.add(event)
        if on_event is not None:
            on_event(event, row.frozen((event.suite, event.prompt)))
    for change in pending[at:]:
        state = _change(state, change, events, changes, memo)
    return state


def _change(
    state: State,
    change: Change,
    events: Sequence[Event],
    changes: Sequence[Change],
    memo: dict[Point, State],
) -> State:
    kept = {k: r for k, r in state.items() if change.suite not in (None, k[0])}
    if change.to is None:  # a reset
        return kept
    if change.to not in memo:
        memo[change.to] = replay(events, changes, change.to, memo, None)
    target = memo[change.to]
    restored = {k: r.copy() for k, r in target.items() if change.suite in (None, k[0])}
    return kept | restored
