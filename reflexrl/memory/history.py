"""The memory's history: its aggregates at any point of the log, rebuilt from the log alone.

The log is append-only and totally ordered: episodes (their reward events, in `episodes.id`
order) and changes (`resets` rows: a reset to empty, or a rollback to an earlier point),
each change placed after the episode `after_episode`. A `Point` is a moment of that order;
`rows_at` replays the log up to it, exactly as the store applied it (the same additions in
the same order, so the floats are equal, not close).

Points, as text (`resolve_point`):
    start              before anything
    now                after everything logged so far
    RUN                after the last episode of run RUN
    RUN:N              after episode N (its `episode_index`) of run RUN
    2026-11-27T10:00   after everything logged at or before that time (UTC unless it says)
    change:N           right after change N (a reset or a rollback)
    before-change:N    right before change N (how a rollback is undone)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from ..errors import BadInputError
from ..records import CLARIFY, ActionStats, MemoryRow, RunInfo

if TYPE_CHECKING:
    from .protocols import SortKey

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


# -- points ------------------------------------------------------------------------------------

_NUMBER = re.compile("[0-9]+")  # ASCII digits only: `\\d` and `isdigit` take '٣' and '²'
_CHANGE = re.compile(r"(before-)?change:([0-9]+)")
_LARGEST = 2**63 - 1  # SQLite's integers: a larger number names nothing that exists
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?")
MAX_POINT_CHARS = 1000


def resolve_point(db: sqlite_utils.Database, text: str) -> Point:
    """The moment of the log that `text` names (see the module's docstring).

    Raises:
        BadInputError: no such run, episode or change, or a time before the log starts.
    """
    text = text.strip()
    if len(text) > MAX_POINT_CHARS:
        raise BadInputError(f"point: longer than {MAX_POINT_CHARS} characters")
    if text == "start":
        return Point(0, 0, text)
    if text == "now":
        return Point(_max(db, "episodes"), _max(db, "resets"), text)
    if found := _CHANGE.fullmatch(text):
        return _change_point(db, _bounded(found[2]), before=bool(found[1]), label=text)
    if _TIME.fullmatch(text):
        return _time_point(db, text)
    return _run_point(db, text)


def _bounded(digits: str) -> int:
    return min(int(digits), _LARGEST)


def _max(db: sqlite_utils.Database, table: str, where: str = "", params: Sequence[Any] = ()) -> int:
    sql = f"SELECT coalesce(max(id), 0) FROM {table} {where}"
    return int(db.execute(sql, list(params)).fetchone()[0])


def _change_point(db: sqlite_utils.Database, change: int, *, before: bool, label: str) -> Point:
    found = db.execute("SELECT after_episode FROM resets WHERE id = ?", [change]).fetchone()
    if found is None:
        number = label.rpartition(":")[2]
        raise BadInputError(f"point '{label}': no change {number} in the memory's log")
    last = _max(db, "resets", "WHERE id < ?", [change]) if before else change
    return Point(int(found[0]), last, label)


def _time_point(db: sqlite_utils.Database, text: str) -> Point:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInputError(f"point '{text}': not a time (use 2026-11-27T10:00:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > datetime.now(UTC):
        raise BadInputError(f"point '{text}': a time in the future (the log ends now)")
    stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    where = "WHERE created_at <= ?"
    return Point(_max(db, "episodes", where, [stamp]), _max(db, "resets", where, [stamp]), text)


def _run_point(db: sqlite_utils.Database, text: str) -> Point:
    run, sep, index = text.rpartition(":")
    if not sep:
        run, index = text, ""
    if db.execute("SELECT 1 FROM runs WHERE run_id = ?", [run]).fetchone() is None:
        msg = (
            f"point '{text}': no run '{run}' in the memory (a point is start, now, RUN, "
            "RUN:EPISODE, a time, change:N or before-change:N)"
        )
        raise BadInputError(msg)
    if not index:
        episode = _max(db, "episodes", "WHERE run_id = ?", [run])
    elif _NUMBER.fullmatch(index):
        sql = "WHERE run_id = ? AND episode_index = ?"
        episode = _max(db, "episodes", sql, [run, _bounded(index)])
    else:
        episode = 0
    if episode == 0:
        raise BadInputError(f"point '{text}': run '{run}' has no finished episode {index}")
    return Point(episode, _max(db, "resets", "WHERE after_episode < ?", [episode]), text)


# -- replay ------------------------------------------------------------------------------------


def rows_at(
    db: sqlite_utils.Database,
    point: Point,
    *,
    suite: str | None = None,
    prompt: str | None = None,
    on_event: OnEvent | None = None,
) -> list[MemoryRow]:
    """The memory rows at `point` (of one suite, or one prompt), as the store held them:
    rebuilt from the reward events and changes up to it. `on_event` sees every event that
    replay applies, with its row right after it."""
    events = _events(db, point.episode, suite, prompt)
    state = _replay(events, changes(db, point.change), point, {}, on_event)
    return [row.frozen(key) for key, row in sorted(state.items())]


def sort_rows(rows: Iterable[MemoryRow], sort: SortKey = "prompt") -> list[MemoryRow]:
    """Rows in the order `MemoryReader.rows(sort=...)` gives them."""
    if sort == "prompt":
        return sorted(rows, key=lambda r: (r.suite, r.prompt))
    return sorted(rows, key=lambda r: (-getattr(r, sort), r.prompt))


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


def _events(
    db: sqlite_utils.Database, last_episode: int, suite: str | None, prompt: str | None
) -> list[Event]:
    where: list[str] = ["s.episode_id <= ?"]
    params: list[Any] = [last_episode]
    if suite is not None:
        where.append("ev.suite = ?")
        params.append(suite)
    if prompt is not None:
        where.append("ev.prompt = ?")
        params.append(prompt)
    sql = f"""SELECT s.episode_id, ev.suite, ev.prompt, ep.query, ev.action, ev.reward,
        ev.created_at FROM reward_events ev JOIN steps s ON s.id = ev.step_id
        JOIN episodes ep ON ep.id = s.episode_id WHERE {" AND ".join(where)} ORDER BY ev.id"""
    return [Event(*r) for r in db.execute(sql, params).fetchall()]


def changes(db: sqlite_utils.Database, last_change: int | None = None) -> list[Change]:
    """The resets and rollbacks (up to change `last_change`), oldest first."""
    sql = """SELECT id, kind, suite, after_episode, created_at, to_point, to_episode, to_change
        FROM resets WHERE id <= coalesce(?, id) ORDER BY id"""
    out = []
    for r in db.execute(sql, [last_change]).fetchall():
        to = None if r[1] != "rollback" else Point(int(r[6]), int(r[7]), str(r[5]))
        out.append(Change(int(r[0]), str(r[1]), r[2], int(r[3]), str(r[4]), to))
    return out


def _replay(
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
        memo[change.to] = _replay(events, changes, change.to, memo, None)
    target = memo[change.to]
    restored = {k: r.copy() for k, r in target.items() if change.suite in (None, k[0])}
    return kept | restored
