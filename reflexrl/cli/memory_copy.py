"""`reflexrl memory copy SRC DST`: a memory copied between SQLite and PostgreSQL
(`reflexrl.memory.copy`)."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer

from ..memory import check_memory, copy_memory, open_memory
from ..memory.copy import check_source
from .common import JsonOpt, cli_errors, memory_arg, print_json, say

__all__ = ["memory_copy"]


@cli_errors
def memory_copy(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SRC",
            help="The memory to copy: a SQLite file or a postgresql:// URL (only read).",
            show_default=False,
        ),
    ],
    destination: Annotated[
        str,
        typer.Argument(
            metavar="DST",
            help="Where to copy it: a new SQLite file, or a PostgreSQL database without a "
            "memory in it (an empty memory is fine too).",
            show_default=False,
        ),
    ],
    json_out: JsonOpt = False,
) -> None:
    """Copy a memory between SQLite and PostgreSQL, either way, and check the copy.

    The log is replayed into the destination (runs, episodes with their steps, failed
    attempts, invocations waiting for feedback); each episode is credited by the
    destination's own episode write, so its totals are rebuilt, not copied. The copy is
    then checked: every row's totals equal, the episodes in the same order, and the rows at
    the end of every run equal when rebuilt from each log. A destination that holds anything
    is refused. Resets, rollbacks and recorded evaluations (`eval --record`) are replayed
    in place.

    Example: reflexrl memory copy memory/reflexrl.db postgresql://reflexrl@db.internal/memory
    """
    source, destination = memory_arg(source), memory_arg(destination)
    with closing(open_memory(source, create=False, read_only=True)) as src:
        check_source(src)
        check_memory(destination)  # before anything is created there
        with closing(open_memory(destination)) as dst:
            report = copy_memory(src, dst)
    if json_out:
        print_json(report.to_json())
        return
    say(
        f"copied {report.source} to {report.destination}: {report.runs} runs, "
        f"{report.episodes} episodes ({report.steps} steps), {report.failures} failed "
        f"attempts, {report.invocations} invocations, {report.changes} resets and rollbacks, "
        f"{report.evaluations} evaluations"
    )
    say(
        f"checked: {report.rows} rows' totals equal, the history equal at "
        f"{report.points_checked} points"
    )
