"""The memory's history read from SQLite: points named as text, and the rows at a point.

Points, as text (`resolve_point`):
    start              before anything
    now                after everything logged so far
    RUN                after the last episode of run RUN
    RUN:N              after episode N (its `episode_index`) of run RUN
    2026-11-27T10:00   after everything logged at or before that time (UTC unless it says)
    change:N           right after change N (a reset or a rollback)
    before-change:N    right before change N (how a rollback is undone)

The SQL here is what both databases run, with `?` marks, through any `Sql` connection: the
SQLite file's own, or the Postgres store's (`postgres/history.py`'s `Qmark`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from ...errors import BadInputError
from ...records import MemoryRow
from ..history import Change, Event, OnEvent, Point, replay

__all__ = ["MAX_POINT_CHARS", "Cursor", "Sql", "changes", "resolve_point", "rows_at"]


class Cursor(Protocol):
    """The rows of a statement, as tuples."""

    def fetchone(self) -> Any:
        """The next row (None: no more)."""
        ...

    def fetchall(self) -> list[Any]:
        """The rows left."""
        ...


class Sql(Protocol):
    """A connection that runs SQL with `?` marks: `sqlite_utils.Database`, or `Qmark` over a
    Postgres session. (No literal `?` or `%` in the SQL: `Qmark` rewrites the marks.)"""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor:
        """Run `sql` with `params`; its rows are tuples."""
        ...

    def query(self, sql: str, params: Sequence[Any] = ..., /) -> Iterable[dict[str, Any]]:
        """The rows of `sql`, as dicts by column."""
        ...


# -- points ------------------------------------------------------------------------------------

_NUMBER = re.compile("[0-9]+")  # ASCII digits only: `\\d` and `isdigit` take '٣' and '²'
_CHANGE = re.compile(r"(before-)?change:([0-9]+)")
_LARGEST = 2**63 - 1  # SQLite's integers: a larger number names nothing that exists
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?")
MAX_POINT_CHARS = 1000


def resolve_point(db: Sql, text: str) -> Point:
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


def _max(db: Sql, table: str, where: str = "", params: Sequence[Any] = ()) -> int:
    sql = f"SELECT coalesce(max(id), 0) FROM {table} {where}"
    return int(db.execute(sql, list(params)).fetchone()[0])


def _change_point(db: Sql, change: int, *, before: bool, label: str) -> Point:
    found = db.execute("SELECT after_episode FROM resets WHERE id = ?", [change]).fetchone()
    if found is None:
        number = label.rpartition(":")[2]
        raise BadInputError(f"point '{label}': no change {number} in the memory's log")
    last = _max(db, "resets", "WHERE id < ?", [change]) if before else change
    return Point(int(found[0]), last, label)


def _time_point(db: Sql, text: str) -> Point:
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


def _run_point(db: Sql, text: str) -> Point:
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
    db: Sql,
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
    state = replay(events, changes(db, point.change), point, {}, on_event)
    return [row.frozen(key) for key, row in sorted(state.items())]


def _events(db: Sql, last_episode: int, suite: str | None, prompt: str | None) -> list[Event]:
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


def changes(db: Sql, last_change: int | None = None) -> list[Change]:
    """The resets and rollbacks (up to change `last_change`), oldest first."""
    sql = """SELECT id, kind, suite, after_episode, created_at, to_point, to_episode, to_change
        FROM resets WHERE id <= coalesce(?, id) ORDER BY id"""
    out = []
    for r in db.execute(sql, [last_change]).fetchall():
        to = None if r[1] != "rollback" else Point(int(r[6]), int(r[7]), str(r[5]))
        out.append(Change(int(r[0]), str(r[1]), r[2], int(r[3]), str(r[4]), to))
    return out
