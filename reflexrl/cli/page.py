"""`reflexrl ui`: serve the inspection page of a memory, on the loopback by default."""

from __future__ import annotations

from contextlib import closing
from types import ModuleType
from typing import Annotated

import typer

from ..errors import BadInputError
from .common import DEFAULT_MEMORY, MemoryOpt, cli_errors, err, say


def ui_module() -> ModuleType:
    """reflexrl.ui, or a clean error when its extra is not installed."""
    try:
        import reflexrl.ui  # noqa: PLC0415  (Starlette, Jinja2, matplotlib: the ui extra)
    except ImportError as exc:
        msg = f"the page needs the ui extra ({exc.name} is missing): pip install 'reflexrl[ui]'"
        raise BadInputError(msg) from None
    return reflexrl.ui


@cli_errors
def ui_cmd(
    memory: MemoryOpt = DEFAULT_MEMORY,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on: a loopback one (127.0.0.0/8, ::1, localhost) unless "
            "--allow-remote. Never every interface (0.0.0.0, ::)."
        ),
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Let --host be an address other machines reach: anyone who reaches it reads "
            "the whole memory (no password, no encryption).",
        ),
    ] = False,
) -> None:
    """Browse a memory in a web page: the memory table, each prompt's history and episodes,
    each run's learning curves, Fig. 4 and Table 2.

    Read-only (the memory is not changed), no script, nothing loaded from the network. Open
    the address it prints; Ctrl-C stops it.
    Example: reflexrl ui --memory memory/paper.db
    """
    ui = ui_module()
    try:  # before the memory is opened: a refused host fails at once
        ui.check_host(host, allow_remote=allow_remote)
    except ui.RemoteHostError as exc:
        raise BadInputError(f"--host: {exc} (--allow-remote)") from None
    except BadInputError as exc:
        raise BadInputError(f"--host: {exc}") from None
    store = ui.open_for_ui(memory)
    where = store.location  # a URL without its password
    with closing(store):
        sock = ui.bind(host, port, allow_remote=allow_remote)
        address = sock.getsockname()
        shown = f"[{address[0]}]" if ":" in address[0] else address[0]
        url = f"http://{shown}:{address[1]}/"
        if not ui.is_loopback(address[0]):
            say(
                f"WARNING: not the loopback: anyone who can reach {url} can read {where} "
                "(every prompt, episode and model message; no password, no encryption)",
                err,
            )

        def ready() -> None:
            say(f"serving {where} at {url} (read-only; Ctrl-C stops)")

        try:
            ui.serve(store, sock, host, on_ready=ready)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the server has shut down
            say("stopped", err)
