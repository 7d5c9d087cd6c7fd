"""`reflexrl items`: item files (requests that expect a call, a question or a decline)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..envs.acebench import import_acebench
from ..envs.items import Item, read_items, write_items
from ..errors import BadInputError
from ..files.atomic import check_output
from ..safety.text import for_terminal
from .common import JsonOpt, cli_errors, out, print_json

__all__ = ["items_app"]

items_app = typer.Typer(
    help="Item files: JSON Lines of requests, each with its own tools and the behaviour it "
    "expects (call a gold tool, ask for clarification, or decline).\n\n"
    "Example: reflexrl items check acebench.jsonl",
    no_args_is_help=True,
)


@items_app.command("import-acebench")
@cli_errors
def items_import_acebench(
    folder: Annotated[
        Path,
        typer.Argument(
            help="ACEBench's data_all/data_en folder: the five data files, and their answers "
            "in possible_answer/.",
            show_default=False,
        ),
    ],
    out_path: Annotated[
        Path, typer.Option("--out", help="The item file to write (JSON Lines).", show_default=False)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Import ACEBench's call / ask / decline subset as an item file.

    Reads data_special_incomplete and data_special_error_param (ask),
    data_special_irrelevant (decline), data_normal_single_turn_single_function and
    data_normal_similar_api (call). The file is written whole or not at all; prints the
    items per source and expected behaviour.

    Example: reflexrl items import-acebench ACEBench/data_all/data_en --out acebench.jsonl
    """
    try:
        check_output(out_path)
    except BadInputError as exc:
        raise BadInputError(f"--out: {exc}") from None
    items = import_acebench(folder)
    write_items(items, out_path)
    if json_out:
        print_json({"out": str(out_path), **_counts_json(items)})
        return
    out.print(_table(items, f"{len(items)} items written to {out_path}"))


@items_app.command("check")
@cli_errors
def items_check(
    file: Annotated[
        Path, typer.Argument(help="The item file (JSON Lines) to check.", show_default=False)
    ],
    json_out: JsonOpt = False,
) -> None:
    """Check an item file and count its items per source and expected behaviour.

    Every line must be a valid item, ids unique, gold tools among the item's tools. The first
    bad line is one `error:` line naming the file, the line and the field (exit code 2).

    Example: reflexrl items check acebench.jsonl --json
    """
    items = read_items(file)
    if json_out:
        print_json({"file": str(file), **_counts_json(items)})
        return
    out.print(_table(items, f"{file}: {len(items)} valid items"))


def _table(items: list[Item], title: str) -> Table:
    """Items per source and behaviour, then per behaviour; user text shown inert."""
    table = Table(title=for_terminal(title))
    for column in ("source", "expected", "items"):
        table.add_column(column, justify="right" if column == "items" else "left")
    for (source, expected), n in _by_source(items).items():
        table.add_row(for_terminal(source or "-"), expected, str(n))
    for expected, n in _by_expected(items).items():
        table.add_row("all", expected, str(n), style="bold")
    return table


def _by_source(items: list[Item]) -> Counter[tuple[str, str]]:
    """Items per (source, expected behaviour), in order of first appearance."""
    return Counter((item.source, item.expected) for item in items)


def _by_expected(items: list[Item]) -> Counter[str]:
    return Counter(item.expected for item in items)


def _counts_json(items: list[Item]) -> dict[str, Any]:
    return {
        "items": len(items),
        "by_expected": dict(_by_expected(items)),
        "by_source": [
            {"source": source, "expected": expected, "items": n}
            for (source, expected), n in _by_source(items).items()
        ],
    }
