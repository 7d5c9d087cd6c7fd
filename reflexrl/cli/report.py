"""`reflexrl report`: a run's report as text, JSON or one HTML page."""

from __future__ import annotations

import io
import json
import sys
from contextlib import closing
from typing import Annotated, Literal

import typer
from rich.console import Console

from ..files.atomic import write_text_atomically
from ..loop.report import build_report, print_report
from ..memory import open_memory
from .common import DEFAULT_MEMORY, MemoryOpt, check_out, cli_errors, err, say
from .options import OutOpt
from .page import ui_module


@cli_errors
def report_cmd(
    memory: MemoryOpt = DEFAULT_MEMORY,
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest run).")] = None,
    format: Annotated[
        Literal["text", "json", "html"], typer.Option(help="Output format.")
    ] = "text",
    out_path: OutOpt = None,
) -> None:
    """Report a run: per-epoch metrics and the Table 2 of Curuksu's paper (first vs last epoch).

    --format html writes one self-contained page (learning curves, Fig. 4 heat maps, Table 2,
    usage) that opens offline. Read-only: the memory is not changed.
    """
    if out_path is not None:
        check_out(out_path, memory)
    ui = ui_module() if format == "html" else None
    with closing(open_memory(memory, read_only=True)) as store:
        if ui is not None:  # aggregated in SQL: a long run is not loaded whole
            text = ui.report_html(store, run)
        else:
            report = build_report(store, run)
    if format == "json":
        text = json.dumps(report.to_json(), indent=2) + "\n"
    elif format == "text":
        console = Console(record=True, width=120, file=io.StringIO())
        print_report(report, console)
        text = console.export_text()
    if out_path is None:
        sys.stdout.write(text)
    else:
        write_text_atomically(out_path, text)
        say(f"wrote {out_path}", err)
