"""The session: what it has recorded when a run it is running is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from langchain_core.runnables import RunnableLambda

from reflexrl import Suite
from reflexrl.envs.context import EpisodeContext
from reflexrl.envs.simulated_user import RephrasingUser
from reflexrl.loop.plan import PlannedEpisode
from reflexrl.loop.session import Session
from reflexrl.records import Episode, Failure


class Hanging:
    """An agent whose episodes never end; cancelled, the second one takes a while to give
    in (as langgraph does, awaiting a shielded callback first)."""

    def __init__(self) -> None:
        self.started = 0

    async def __call__(self, state: Any) -> Any:
        slow = self.started == 1
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if slow:
                await asyncio.shield(asyncio.sleep(0.05))
            raise


async def _recorded_when_cancelled(
    session: Session, agent: Hanging, slots: list[Any], failures: list[Failure]
) -> list[str]:
    """Cancel the session once every episode started: what it recorded when it returns."""
    run = asyncio.create_task(session.run(slots))
    while agent.started < len(slots):
        await asyncio.sleep(0)
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await run
    return [f.error for f in failures]


def test_a_cancelled_session_returns_once_every_episode_recorded_its_interruption() -> None:
    """On Ctrl-C the caller closes the memory as soon as the session returns: an episode
    still unwinding then would be recorded into a closed store."""
    suite = Suite.load("paper")
    agent = Hanging()

    def context(slot: PlannedEpisode) -> EpisodeContext:
        user = RephrasingUser([slot.prompt])
        return EpisodeContext(suite.name, slot.query, 0, slot.index, 2, 3, suite.reward_model, user)

    def finished(episode: Episode) -> None:
        raise AssertionError("no episode ends")

    failures: list[Failure] = []
    session = Session(
        RunnableLambda(agent), suite, "r", context, finished, failures.append, concurrency=2
    )
    slots = [PlannedEpisode(i, 0, "q1", p) for i, p in enumerate(suite.prompts_of("q1")[:2])]
    recorded = asyncio.run(_recorded_when_cancelled(session, agent, slots, failures))
    assert recorded == ["interrupted", "interrupted"]
