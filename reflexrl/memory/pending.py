"""Invocations that learn outside training: where their credited episodes are logged.

With `learn=True` an agent logs each invocation as a `PendingEpisode`; when its reward
arrives it is credited as one `Episode` of the suite's learning run, `learn:SUITE` (one run
per suite, however many processes serve it), whose index is the invocation's place in the
store's log (`PendingEpisode.number`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..errors import FeedbackError
from ..records import PendingEpisode, RunInfo

__all__ = ["LEARN_MODEL", "known", "learn_run", "learn_run_id", "with_proposed"]

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


def known(found: PendingEpisode | None, run_id: str, location: str) -> PendingEpisode:
    """`found`, the invocation `run_id` as the store at `location` read it.

    Raises:
        FeedbackError: it was never logged there (`found` is None).
    """
    if found is None:
        raise FeedbackError(f"no invocation {run_id!r} was logged in {location}")
    return found


def with_proposed(found: PendingEpisode, rewards: Mapping[int, float]) -> PendingEpisode:
    """`found` with `rewards` (by decision index) proposed where it has none: the rewards
    it was logged with come first."""
    return replace(found, proposed={**rewards, **found.proposed})
