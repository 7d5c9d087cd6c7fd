"""The `reflexrl` app: registers every command and runs one (`main`)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from types import FrameType

import typer

from .. import event_loop
from .bench import bench_cmd
from .common import err, error, say
from .evaluate import eval_cmd
from .export import export_cmd
from .feedback import feedback_cmd
from .history import memory_diff, memory_log, memory_rollback
from .items import items_app
from .judge import judge_app
from .memory import memory_reset, memory_shadow, memory_show
from .memory_copy import memory_copy
from .page import ui_cmd
from .report import report_cmd
from .suites import suites_cmd
from .train import train_cmd

app = typer.Typer(
    help=(
        "Teach a tool-using agent when to ask for clarification instead of guessing a tool, "
        "by verbal reinforcement learning: rewards are kept in a memory table that is "
        "rendered into the agent's system prompt.\n\n"
        "Example: reflexrl train --suite paper --model anthropic:claude-sonnet-4-6 --epochs 10"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
memory_app = typer.Typer(
    help="Inspect, compare, roll back, reset or copy a memory.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.command("train")(train_cmd)
app.command("eval")(eval_cmd)
app.add_typer(memory_app, name="memory")
memory_app.command("log")(memory_log)
memory_app.command("diff")(memory_diff)
memory_app.command("rollback")(memory_rollback)
memory_app.command("show")(memory_show)
memory_app.command("reset")(memory_reset)
memory_app.command("shadow")(memory_shadow)
memory_app.command("copy")(memory_copy)
app.command("report")(report_cmd)
app.command("ui")(ui_cmd)
app.command("export")(export_cmd)
app.command("feedback")(feedback_cmd)
app.add_typer(judge_app, name="judge")
app.add_typer(items_app, name="items")
app.command("bench")(bench_cmd)
app.command("suites")(suites_cmd)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point. A bad flag is one `error:` line and exit code 2 (not
    click's usage box); SIGTERM is handled as Ctrl-C."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = app(args=argv, prog_name="reflexrl", standalone_mode=False)
    except typer.TyperException as exc:  # click's errors, as typer raises them
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `reflexrl`: its help
            say(exc.format_message(), err)
            sys.exit(0)
        error(_usage_message(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C before a command started
        say("interrupted", err)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _usage_message(exc: typer.TyperException) -> str:
    """click's message, naming the flag, and where to read more."""
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "message", "") or exc).removeprefix("Value error, ")
    if param is not None and getattr(param, "opts", None) and message:
        flag = max(param.opts, key=len)
        message = f"{flag}: {message[:1].lower()}{message[1:]}"
    else:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "reflexrl"
    return f"{message} (see: {command} --help)"


def _terminate(_signum: int, frame: FrameType | None) -> None:
    """SIGTERM: what Ctrl-C does (the run is saved and marked interrupted, exit code 130),
    whatever SIGINT's handler is (a job started with `&` from a script ignores SIGINT)."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)  # asyncio's, while a run is going: it cancels the run
    else:
        event_loop.interrupt()
