"""Running planned episodes: one episode of the agent, and a session that runs many at once
and decides when to stop early."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, messages_to_dict
from langchain_core.runnables import Runnable

from ..envs.context import EpisodeContext
from ..envs.llm_user import LLMUser
from ..envs.simulated_user import suite_user
from ..envs.suite import Suite
from ..envs.trajectory import read_trajectory
from ..errors import BudgetExceededError
from ..records import Episode, Failure
from ..safety.redaction import redact_error
from ..usage import Usage
from .config import RunConfig
from .plan import PlannedEpisode

EpisodeCallback = Callable[[Episode | Failure], None]
RunStatus = Literal["running", "completed", "incomplete", "interrupted", "stopped", "failed"]
"""`completed`: every episode finished; `incomplete`: some failed (resume retries them);
`interrupted`: Ctrl-C; `stopped`: the budget was reached; `failed`: too many failures in a
row."""
MAX_ERROR_CHARS = 500
EXTRA_THREADS = 4
"""Worker threads beyond one per concurrent episode (for its synchronous tools)."""


async def arun_episode(
    agent: Runnable[Any, Any],
    suite: Suite,
    slot: PlannedEpisode,
    ctx: EpisodeContext,
    run_id: str,
) -> Episode:
    """Run the agent on one prompt and read the scored episode out of its messages."""
    output = await agent.ainvoke({"messages": [HumanMessage(slot.prompt)]}, ctx.config())
    messages = output["messages"] if isinstance(output, dict) else output
    reward_model = suite.reward_model
    trajectory = read_trajectory(messages, slot.query, reward_model, ctx.max_steps, ctx.credit)
    return Episode(
        run_id=run_id,
        index=slot.index,
        epoch=slot.epoch,
        suite=suite.name,
        query=slot.query,
        prompt=slot.prompt,
        explored=ctx.explored,
        outcome=trajectory.outcome or "max_steps",
        steps=trajectory.steps,
        messages=tuple(messages_to_dict(messages)),
        memory_blocks=tuple(ctx.memory_blocks),
        usage=ctx.usage + user_usage(ctx),
    )


def user_usage(ctx: EpisodeContext) -> Usage:
    """What the simulated user's own model calls consumed (an `llm:` user), else nothing."""
    return ctx.user.usage if isinstance(ctx.user, LLMUser) else Usage()


def episode_context(
    suite: Suite,
    slot: PlannedEpisode,
    config: RunConfig,
    total: int,
    *,
    training: bool,
    user_model: BaseChatModel | None = None,
) -> EpisodeContext:
    """An episode's context. In training the simulated user rephrases with training prompts
    only (held-out prompts stay unseen); in an evaluation with any prompt of the query. An
    `llm:` user (`config.user`) is played by `user_model`."""
    rng = random.Random(f"reflexrl:user:{config.seed}:{slot.index}")
    pool = suite.prompts_of(slot.query, "train" if training else "all", config.holdout)
    return EpisodeContext(
        suite=suite.name,
        query=slot.query,
        seed=config.seed,
        index=slot.index,
        total=total,
        max_steps=config.max_steps,
        reward_model=suite.reward_model,
        user=suite_user(
            config.user, pool, rng, seed=config.seed * 1_000_003 + slot.index, model=user_model
        ),
        frozen=not training,
        use_memory=config.use_memory or training,
        credit=config.credit,
        offered=suite.offered_tools(slot.query),
        request_context=suite.request_context(slot.query),
    )


def describe_error(exc: BaseException) -> str:
    """`Type: message` of what failed. When the error wraps a network error (its chain of
    causes ends in an `OSError` with a message), that one is described: transports relabel
    errors (aiohttp under openai reports a refused connection as a timeout), the socket's
    own error says what happened."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    shown = root if isinstance(root, OSError) and str(root) else exc
    return f"{type(shown).__name__}: {shown}"


def _failure(slot: PlannedEpisode, run_id: str, error: str, usage: Usage) -> Failure:
    text = redact_error(error)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + " [...]"
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    return Failure(run_id, slot.index, slot.epoch, slot.query, slot.prompt, text, usage, now)


@dataclass
class Session:
    """Runs planned episodes, `concurrency` at a time, and decides when to stop early."""

    agent: Runnable[Any, Any]
    suite: Suite
    run_id: str
    context: Callable[[PlannedEpisode], EpisodeContext]
    finished: Callable[[Episode], None]
    failed: Callable[[Failure], None]
    concurrency: int = 1
    max_failures: int = 5
    rescore: Callable[[Episode], Awaitable[Episode]] | None = None
    """Re-scores each finished episode before `finished` (a training reward other than the
    key: `reflexrl.rewards.training`); what fails in it fails the episode."""
    stop: RunStatus | None = None
    in_a_row: int = 0
    last_error: str = ""

    async def run(self, slots: Iterable[PlannedEpisode]) -> None:
        """Run `slots`; they start in order, up to `concurrency` at once (each worker takes
        the next slot when its episode ends, so a plan of any length costs no memory)."""
        queue = iter(slots)

        async def worker() -> None:
            for slot in queue:
                if self.stop is not None:
                    return
                await self._episode(slot)

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            # gather ends with the first worker to end badly (the first to be cancelled, on
            # Ctrl-C) and leaves the others running: their episodes would then be recorded
            # after the caller closed the memory. Every worker is over before this returns.
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _episode(self, slot: PlannedEpisode) -> None:
        ctx = self.context(slot)
        try:
            episode = await arun_episode(self.agent, self.suite, slot, ctx, self.run_id)
            if self.rescore is not None:
                episode = await self.rescore(episode)
        except asyncio.CancelledError:
            self.failed(_failure(slot, self.run_id, "interrupted", ctx.usage))
            raise
        except Exception as exc:
            self._fail(slot, ctx, exc)
            return
        finally:
            ctx.close()
        self.in_a_row = 0
        self.finished(episode)

    def _fail(self, slot: PlannedEpisode, ctx: EpisodeContext, exc: Exception) -> None:
        failure = _failure(slot, self.run_id, describe_error(exc), ctx.usage)
        self.failed(failure)
        self.last_error = failure.error
        self.in_a_row += 1
        if isinstance(exc, BudgetExceededError):
            self.stop = "stopped"
        elif self.in_a_row >= self.max_failures:
            self.stop = "failed"
