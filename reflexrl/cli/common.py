"""What every `reflexrl` command shares: the consoles, the one-line error, common options."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ..errors import BadInputError, ReflexRLError
from ..files.atomic import check_output
from ..memory import memory_files
from ..memory.open import is_postgres_url
from ..safety.redaction import redact_error
from ..safety.text import for_terminal

DEFAULT_MEMORY = "memory/reflexrl.db"

out = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def memory_arg(text: str) -> str:
    """`--memory`: a PostgreSQL URL as given, a path as `Path` reads it (`""` is `.`)."""
    return text if is_postgres_url(text) else str(Path(text))


MemoryOpt = Annotated[
    str,
    typer.Option(
        parser=memory_arg,
        metavar="PATH|URL",
        help="The memory: a SQLite file, or a PostgreSQL database "
        "(postgresql://USER@HOST/DB; the password from the URL or PGPASSWORD).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def cli_errors(func: F) -> F:
    """Turn a ReflexRLError into a one-line message and its exit code, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ReflexRLError as exc:
            error(f"{flag_of(exc.setting)}: {exc.message}" if exc.setting else str(exc))
            raise typer.Exit(exc.exit_code) from None
        except sqlite3.DatabaseError as exc:  # a file damaged where no check looked
            error(f"{kwargs.get('memory', 'a database')}: {exc}")
            damaged = exc.sqlite_errorname in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
            raise typer.Exit(2 if damaged else 1) from None
        except KeyboardInterrupt:
            say("interrupted: completed episodes are saved", err)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def error(text: str) -> None:
    """One line on stderr: `error: ...`, secrets redacted, user text shown inert."""
    say("error: " + " ".join(redact_error(text).split()), err)


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def say(text: str, console: Console = out) -> None:
    """A line of text, shown inert (no markup, control characters escaped)."""
    console.print(for_terminal(text), soft_wrap=True)


def check_out(path: Path, memory: str) -> None:
    """Refuse an `--out` that is the memory (or one of its files), a directory, a device, a
    FIFO or a socket, or in a folder that is missing or not writable: before anything runs."""
    try:
        check_output(path, protected=memory_files(memory))
    except BadInputError as exc:
        raise BadInputError(f"--out: {exc}") from None


def flag_of(setting: str) -> str:
    """The option that sets `setting`: `max_cost` -> `--max-cost`."""
    return "--" + setting.replace("_", "-")
