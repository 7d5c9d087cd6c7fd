"""`reflexrl memory show`, `memory reset` and `memory shadow` (`log`, `diff`, `rollback`:
history.py)."""

from __future__ import annotations

from contextlib import closing
from typing import Annotated, Literal

import typer
from rich.table import Table

from ..agent.shadow import shadow_report
from ..envs.suite import Suite, bundled_suites
from ..errors import BadInputError
from ..loop.config import RunConfig
from ..memory import MemoryStore, memory_location, open_memory, sort_rows
from ..prompt import prompt_memory
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
from .history import POINTS
from .options import LookupOptions, takes_groups
from .running import open_for_run

SuiteFilterOpt = Annotated[str | None, typer.Option(help="Only this suite's rows.")]


@cli_errors
@takes_groups
def memory_show(
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: SuiteFilterOpt = None,
    sort: Annotated[
        Literal["reward", "visits", "prompt"], typer.Option(help="Sort rows by this.")
    ] = "prompt",
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most N rows.")] = None,
    at: Annotated[
        str | None, typer.Option(help="Show the rows as they were at this point. " + POINTS)
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help="Print what the agent would see for this prompt: the memory block, as the "
            "lookup finds it (with --json: its neighbours and the estimate per action)."
        ),
    ] = None,
    view: LookupOptions = LookupOptions(),
    json_out: JsonOpt = False,
) -> None:
    """Show the memory table: reward, visits, clarifications and actions per prompt.

    With --prompt TEXT: the block the agent would be shown for TEXT (try --lookup knn on a
    prompt the memory never saw). Read-only: the memory is not changed (a read-only disk
    works; a PostgreSQL memory is read in read-only transactions).
    """
    config = RunConfig(
        lookup=view.lookup, k=view.k, threshold=view.threshold, neighbour_text=view.neighbour_text
    )
    with closing(open_for_run(memory, config, read_only=True)) as store:
        if prompt is not None:
            name = _suite_for(store, suite)
            tools = _tools_for(store, name)
            seen = prompt_memory(
                store, name, prompt, tools=tools, neighbour_text=view.neighbour_text
            )
            if json_out:
                print_json(seen.to_json())
            else:
                for line in seen.block.splitlines():  # user text in it is already escaped
                    say(line)
            return
        if at is None:
            rows = store.rows(suite, sort=sort, limit=limit)
        else:
            rows = sort_rows(store.rows_at(store.point(at), suite), sort)[:limit]
    if json_out:
        print_json([r.to_json() for r in rows])
        return
    table = Table(title=for_terminal(f"{memory_location(memory)}: {len(rows)} rows"))
    for column in ("suite", "query", "prompt", "reward", "visits", "clarify", "best action"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            for_terminal(r.suite),
            for_terminal(r.query or ""),
            for_terminal(r.prompt),
            f"{r.reward:+g}",
            str(r.visits),
            str(r.clarifications),
            for_terminal(r.best_action() or ""),
        )
    out.print(table)


def _suite_for(store: MemoryStore, suite: str | None) -> str:
    """The suite a prompt is looked up in: the one named, else the memory's only suite."""
    if suite is not None:
        return suite
    suites = sorted({r.suite for r in store.rows(actions=False)})
    if len(suites) == 1:
        return suites[0]
    if not suites:
        raise BadInputError(f"--prompt: {store.location} holds no rows yet; name a --suite")
    raise BadInputError(f"--suite: the memory holds suites {', '.join(suites)}; name one")


def _tools_for(store: MemoryStore, suite: str) -> list[str]:
    """The tools an agent of `suite` can call: a bundled suite's, else every action its rows
    recorded (a tool no prompt ever tried is then not known)."""
    if suite in bundled_suites():
        return [t.name for t in Suite.load(suite).tools]
    return sorted({a for r in store.rows(suite) for a in r.actions})


@cli_errors
def memory_reset(
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: SuiteFilterOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Really reset.")] = False,
) -> None:
    """Forget the learned rewards (the episode log is kept)."""
    if not yes:
        raise BadInputError("memory reset: refusing without --yes")
    with closing(open_memory(memory, create=False)) as store:
        removed = store.reset(suite)
    say(f"removed {removed} rows from {memory_location(memory)}")


@cli_errors
def memory_shadow(
    memory: MemoryOpt = DEFAULT_MEMORY,
    suite: Annotated[
        str, typer.Option(help="The suite (memory namespace) the agent learns in.")
    ] = "default",
    json_out: JsonOpt = False,
) -> None:
    """How often the advice matched what was rewarded, over the invocations an agent with
    learn=True logged (in shadow mode: the advice it was not shown). Read-only."""
    with closing(open_memory(memory, create=False, read_only=True)) as store:
        report = shadow_report(store, suite)
    data = report.to_json()
    if json_out:
        print_json(data)
        return
    say(
        f"{report.decisions} credited decisions, {report.advised} with advice, "
        f"{report.followed} of them as advised"
    )
    say(
        f"rewarded: {report.rewarded}, the advice named their action for "
        f"{report.rewarded_as_advised} ({data['advice_matches_rewarded']})"
    )
    say(
        f"penalized: {report.penalized}, the advice named another action for "
        f"{report.penalized_against_advice} ({data['advice_avoids_penalized']})"
    )
