"""The memory's history read from Postgres: points named as text, and the rows at a point.

The point grammar (`start`, `now`, `RUN`, `RUN:N`, a time, `change:N`, `before-change:N`)
and the queries that read the log for replay are `sqlite/history.py`'s, written in SQL
both databases run; here they run through `Qmark`, which gives them psycopg's parameter
marks, so both stores name the same points with the same messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ...records import MemoryRow
from ..history import Point
from ..sqlite import history as portable
from .session import Session

__all__ = ["Qmark", "resolve_point", "rows_at"]


class Qmark:
    """A `Session` that takes SQL with `?` marks (a `portable.Sql`: what `sqlite/history.py`
    and `memory/queries.py` write)."""

    def __init__(self, db: Session) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run `sql` (no literal `?` or `%` in it) with `params`."""
        return self.db.execute(sql.replace("?", "%s"), params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of `sql` (no literal `?` or `%` in it), as dicts by column."""
        return self.db.query(sql.replace("?", "%s"), params)


def resolve_point(db: Session, text: str) -> Point:
    """The moment of the log that `text` names (see `sqlite/history.py`).

    Raises:
        BadInputError: no such run, episode or change, or a time before the log starts.
    """
    return portable.resolve_point(Qmark(db), text)


def rows_at(db: Session, point: Point, *, suite: str | None = None) -> list[MemoryRow]:
    """The memory rows (of one suite) at `point`, rebuilt from the log up to it."""
    return portable.rows_at(Qmark(db), point, suite=suite)
