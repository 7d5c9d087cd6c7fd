"""`reflexrl memory log | diff | rollback`: the memory's history (`reflexrl.memory.history`)."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import BadInputError
from ..memory import MemoryStore, RowChange, diff, history, memory_location, open_memory, queries
from ..memory.queries import InspectableMemory, inspectable
from ..records import MemoryRow, RunInfo
from ..safety.text import for_terminal
from .common import (
    DEFAULT_MEMORY,
    JsonOpt,
    MemoryOpt,
    cli_errors,
    out,
    print_json,
    say,
)

POINTS = (
    "A point of the log: start, now, RUN (after its last episode), RUN:EPISODE (after that "
    "episode), a time (2026-11-27T10:00, UTC), change:N or before-change:N (see `memory log`)."
)
SuiteOpt = Annotated[str | None, typer.Option(help="Only this suite's rows.")]


@cli_errors
def memory_log(memory: MemoryOpt = DEFAULT_MEMORY, json_out: JsonOpt = False) -> None:
    """List the points of the memory's log: its runs, and its resets and rollbacks."""
    with closing(open_memory(memory, create=False, read_only=True)) as opened:
        store = inspectable(opened)
        runs = [_run_json(store, r) for r in store.runs()]
        changes = [_change_json(c) for c in queries.changes_of(store)]
    if json_out:
        print_json({"runs": runs, "changes": changes})
        return
    table = Table(
        title=for_terminal(f"{memory_location(memory)}: runs (a point: RUN or RUN:EPISODE)")
    )
    table.add_column("run", no_wrap=True)  # the text of a point: never cut
    for column in ("suite", "model", "episodes", "started", "status"):
        table.add_column(column, overflow="fold")
    for r in runs:
        started = str(r["started_at"])[:19]
        cells = (r["run_id"], r["suite"], r["model"], f"0-{r['last_episode']}", started)
        table.add_row(*(for_terminal(str(c)) for c in (*cells, r["status"])))
    out.print(table)
    for c in changes:
        target = f" to {c['to_point']}" if c["kind"] == "rollback" else ""
        say(f"change:{c['id']}  {c['created_at']}  {c['kind']}{target} ({c['suite'] or 'all'})")


def _run_json(store: InspectableMemory, run: RunInfo) -> dict[str, Any]:
    last = queries.last_episode_index(store, run.run_id)
    return {
        "run_id": run.run_id,
        "suite": run.suite,
        "model": run.model,
        "last_episode": last,
        "started_at": run.started_at,
        "status": run.status,
    }


def _change_json(change: history.Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "kind": change.kind,
        "suite": change.suite,
        "to_point": None if change.to is None else change.to.label,
        "created_at": change.created_at,
    }


@cli_errors
def memory_diff(
    memory: MemoryOpt = DEFAULT_MEMORY,
    start: Annotated[str, typer.Option("--from", help=POINTS)] = "start",
    end: Annotated[str, typer.Option("--to", help="The later point (default: now).")] = "now",
    suite: SuiteOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the rows whose reward, visits or best action changed between two points."""
    with closing(open_memory(memory, create=False, read_only=True)) as store:
        before = store.rows_at(store.point(start), suite)
        after = store.rows_at(store.point(end), suite)
    changes = diff(before, after)
    if json_out:
        print_json([c.to_json() for c in changes])
        return
    out.print(
        _diff_table(
            changes, f"{memory_location(memory)}: {len(changes)} rows changed from {start} to {end}"
        )
    )


def _diff_table(changes: list[RowChange], title: str) -> Table:
    table = Table(title=for_terminal(title))
    for column in ("suite", "prompt", "reward", "visits", "best action"):
        table.add_column(column, overflow="fold")
    for c in changes:
        table.add_row(
            for_terminal(c.suite),
            for_terminal(c.prompt),
            f"{_cell(c.before, 'reward')} -> {_cell(c.after, 'reward')}",
            f"{_cell(c.before, 'visits')} -> {_cell(c.after, 'visits')}",
            for_terminal(f"{_best(c.before)} -> {_best(c.after)}"),
        )
    return table


def _cell(row: MemoryRow | None, field: str) -> str:
    if row is None:
        return "-"
    value = getattr(row, field)
    return f"{value:+g}" if field == "reward" else str(value)


def _best(row: MemoryRow | None) -> str:
    return "-" if row is None else row.best_action() or "-"


@cli_errors
def memory_rollback(
    memory: MemoryOpt = DEFAULT_MEMORY,
    to: Annotated[str, typer.Option("--to", help=POINTS)] = "",
    suite: SuiteOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really roll back.")] = False,
) -> None:
    """Return the learned rewards to what they were at a point of the log.

    The log keeps everything, and the rollback is logged: the command prints the point that
    undoes it.
    """
    if not to:
        raise BadInputError("memory rollback: name the point to return to with --to")
    if not yes:
        raise BadInputError("memory rollback: refusing without --yes")
    with closing(open_memory(memory, create=False, read_only=True)) as store:
        changes = _rollback_changes(store, to, suite)  # refused here, nothing is written
    with closing(open_memory(memory, create=False)) as store:
        change = store.rollback(store.point(to), suite)
    where = memory_location(memory)
    say(f"rolled {where} back to {to}: {len(changes)} rows changed (change:{change})")
    say(f"undo: reflexrl memory rollback --memory {where} --to before-change:{change} --yes")


def _rollback_changes(store: MemoryStore, to: str, suite: str | None) -> list[RowChange]:
    """The rows a rollback to `to` would change, checked as the rollback checks them."""
    point = store.point(to)
    now, target = store.rows(suite), store.rows_at(point, suite)
    history.check_rollback(now, target, point=point, suite=suite, runs=store.runs())
    return diff(now, target)
