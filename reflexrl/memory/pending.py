"""Invocations that learn outside training: where their credited episodes are logged.

With `learn=True` an agent logs each invocation as a `PendingEpisode`; when its reward
arrives it is credited as one `Episode` of the suite's learning run, `learn:SUITE` (one run
per suite, however many processes serve it), whose index is the invocation's place in the
store's log (`PendingEpisode.number`).
"""

from __future__ import annotations

from ..records import RunInfo

__all__ = ["LEARN_MODEL", "learn_run", "learn_run_id"]

LEARN_MODEL = "(in production)"
"""The model a learning run names: any model served by the wrapped agent."""


def learn_run_id(suite: str) -> str:
    """The id of the run that holds a suite's episodes learned outside training."""
    return f"learn:{suite}"


def learn_run(suite: str, started_at: str) -> RunInfo:
    """The run record of a suite's episodes learned outside training."""
    return RunInfo(
        run_id=learn_run_id(suite),
        suite=suite,
        model=LEARN_MODEL,
        seed=0,
        epochs=0,
        max_steps=0,
        settings={"learn": True},
        started_at=started_at,
    )
