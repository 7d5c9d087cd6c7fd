"""`reflexrl suites`: the bundled suites."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ..envs.suite import Suite, bundled_suites
from ..safety.text import for_terminal
from .common import JsonOpt, cli_errors, out, print_json


@cli_errors
def suites_cmd(json_out: JsonOpt = False) -> None:
    """List the bundled suites."""
    found = [Suite.load(path) for path in bundled_suites().values()]
    if json_out:
        print_json([_suite_json(s) for s in found])
        return
    table = Table(title="Bundled suites")
    for column in ("name", "queries", "prompts", "tools", "description"):
        table.add_column(column, overflow="fold")
    for s in found:
        row = (s.name, str(len(s.spec.queries)), str(_prompts(s)), ", ".join(s.tool_names))
        table.add_row(*map(for_terminal, row), for_terminal(s.spec.description))
    out.print(table)


def _prompts(suite: Suite) -> int:
    return sum(1 for _ in suite.prompts())


def _suite_json(suite: Suite) -> dict[str, Any]:
    return {
        "name": suite.name,
        "queries": len(suite.spec.queries),
        "prompts": _prompts(suite),
        "tools": suite.tool_names,
        "path": str(suite.path),
        "description": suite.spec.description,
    }
