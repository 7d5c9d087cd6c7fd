"""The CLI run in-process through `reflexrl.cli.app.main`, the function the console script calls
(flag errors, exit codes and the SIGTERM handler included): milliseconds instead of the
second a subprocess takes to import reflexrl."""

from __future__ import annotations

import signal

import pytest

from reflexrl.cli.app import main


def run_main(*args: str) -> int:
    """Run `reflexrl ARGS`; its exit code. Output goes to the real stdout/stderr (capture it
    with `capfd`)."""
    saved = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
    finally:
        signal.signal(signal.SIGTERM, saved)
    return int(exit_info.value.code or 0)
