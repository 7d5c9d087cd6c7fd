"""The training loop: run a plan's episodes, credit each to the memory, log the run (and
resume it where it stopped)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from .. import event_loop
from ..envs.context import EpisodeContext
from ..envs.simulated_user import check_user_model
from ..envs.suite import Suite
from ..errors import RunFailedError
from ..memory import MemoryStore
from ..records import Episode, Failure, RunInfo
from ..rewards.training import TrainingReward, training_reward
from ..usage import Usage
from .config import RunConfig
from .metrics import Metrics, summarize, total_usage
from .plan import PlannedEpisode, new_run_id, plan, plan_size
from .resume import check_resumable
from .session import EXTRA_THREADS, EpisodeCallback, RunStatus, Session, episode_context


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics of one epoch of training."""

    epoch: int
    metrics: Metrics

    def to_json(self) -> dict[str, Any]:
        """The `train --json` shape of an epoch."""
        m = self.metrics
        return {
            "epoch": self.epoch,
            "success_rate": round(m.success_rate, 4),
            "mean_steps": round(m.mean_steps, 4),
            "clarifications": m.clarifications,
            "wrong_tools": m.wrong_tools,
            "reward": m.reward,
        }


@dataclass(frozen=True)
class TrainResult:
    """What a training run did."""

    run_id: str
    model: str
    suite: str
    memory: str
    episodes: tuple[Episode, ...]
    epochs: tuple[EpochMetrics, ...] = field(default=())
    status: RunStatus = "completed"
    unfinished: int = 0
    """Planned episodes of the run that have not finished (failed, interrupted, not run)."""
    usage: Usage = field(default_factory=Usage)
    """Everything the run spent, its failed attempts included, over all its sessions."""

    def to_json(self) -> dict[str, Any]:
        """The `train --json` shape."""
        return {
            "run_id": self.run_id,
            "model": self.model,
            "status": self.status,
            "episodes": len(self.episodes),
            "unfinished": self.unfinished,
            "epochs": [e.to_json() for e in self.epochs],
            "usage": self.usage.to_json(),
            "memory": self.memory,
        }


async def atrain(
    agent: Runnable[Any, Any],
    suite: Suite,
    memory: MemoryStore,
    config: RunConfig | None = None,
    *,
    resume: str | None = None,
    on_episode: EpisodeCallback | None = None,
    reward_source: TrainingReward | None = None,
    user_model: BaseChatModel | None = None,
    **settings: Any,
) -> TrainResult:
    """Train `agent` on `suite`: run every episode, credit its rewards to `memory`.

    The agent must read the memory it is trained into (`ReflexMiddleware(memory)`,
    `reflexrl.agent.wrap(agent, memory)`, or `build_agent(model, suite, memory, config)`). Each
    episode is logged and credited in one transaction. A failed episode is logged as a
    failure and the run goes on (status "incomplete"), unless `config.max_failures` fail in a
    row: then `RunFailedError` (an `EpisodeError` carrying the `TrainResult`) is raised
    (status "failed"). A `BudgetExceededError` from the model-call middleware stops the run
    (status "stopped"). Ctrl-C marks the run "interrupted"; nothing half-written is kept.
    `train` (the same arguments) runs it on reflexrl's event loop (`reflexrl.event_loop`);
    inside a running loop, await `atrain`.

    Args:
        agent: The agent (a `create_agent` graph, or any runnable over `{"messages": ...}`).
        suite: The suite: its prompts, reward model and tools.
        memory: The memory the agent reads (open it with `reflexrl.open_memory`).
        config: The run's settings (default `RunConfig()`), logged with the run.
        resume: A logged run's id: run the episodes of that run that have not finished,
            with the same plan (its settings must match: see `check_resumable`).
        on_episode: Called with every finished episode and every failed attempt.
        reward_source: What the memory is credited with, when `config.reward` is not the key: a
            judge's rewards (`JudgedRewards(load_judge(...))`, for `judge:MODEL`; its
            calls count in each episode's usage), or any `TrainingReward`. None: the one
            `config.reward` names (`key`, or `feedback-noise:...`, built here).
        **settings: `RunConfig` fields overriding `config` (`train(..., epochs=3, seed=1)`).
    """
    config = (config or RunConfig()).with_(**{**settings, "lookup": memory.lookup_kind})
    event_loop.reserve_threads(config.concurrency + EXTRA_THREADS)
    suite.check_holdout(config.holdout)
    check_user_model(config.user, user_model)
    rescorer = reward_source or training_reward(config.reward, config.seed)
    run = RunInfo(
        resume or new_run_id(),
        suite.name,
        config.model,
        config.seed,
        config.epochs,
        config.max_steps,
        config.to_json(),
    )
    total = plan_size(suite, config.epochs, "train", config.holdout)
    done = _open_run(memory, run, resume is not None)
    finished_before = {e.index for e in done}
    slots = plan(suite, config.epochs, config.seed, "train", config.holdout)

    def finished(episode: Episode) -> None:
        memory.record_episode(episode, update=True)
        done.append(episode)
        if on_episode:
            on_episode(episode)

    def failed(failure: Failure) -> None:
        memory.record_failure(failure)
        if on_episode:
            on_episode(failure)

    def context(slot: PlannedEpisode) -> EpisodeContext:
        return episode_context(suite, slot, config, total, training=True, user_model=user_model)

    session = Session(
        agent,
        suite,
        run.run_id,
        context,
        finished,
        failed,
        config.concurrency,
        config.max_failures,
        rescore=None if rescorer is None else rescorer.relabel,
    )
    try:
        await session.run(s for s in slots if s.index not in finished_before)
    except (KeyboardInterrupt, asyncio.CancelledError):
        memory.finish_run(run.run_id, "interrupted")
        raise
    except BaseException:
        memory.finish_run(run.run_id, "failed")
        raise
    return _close_run(memory, run, session, total, done)


train = event_loop.blocking(atrain)


def _open_run(memory: MemoryStore, run: RunInfo, resume: bool) -> list[Episode]:
    """Log a new run, or reopen one; return the episodes it already finished."""
    if not resume:
        memory.start_run(run)
        return []
    check_resumable(memory, run)
    memory.finish_run(run.run_id, "running")
    return list(memory.episodes(run.run_id))


def _close_run(
    memory: MemoryStore, run: RunInfo, session: Session, planned: int, done: list[Episode]
) -> TrainResult:
    episodes = tuple(sorted(done, key=lambda e: e.index))
    failures = memory.failures(run.run_id)
    status: RunStatus = session.stop or ("completed" if len(episodes) == planned else "incomplete")
    memory.finish_run(run.run_id, status)
    result = TrainResult(
        run.run_id,
        run.model,
        run.suite,
        memory.location,
        episodes,
        per_epoch(episodes),
        status,
        planned - len(episodes),
        total_usage([*episodes, *failures]),
    )
    if status == "failed":
        msg = (
            f"{session.in_a_row} episodes in a row failed, last: {session.last_error}; "
            f"run {run.run_id} is saved"
        )
        raise RunFailedError(msg, result)
    return result


def per_epoch(episodes: Sequence[Episode]) -> tuple[EpochMetrics, ...]:
    """Metrics for each epoch, in order."""
    epochs = sorted({e.epoch for e in episodes})
    return tuple(EpochMetrics(n, summarize([e for e in episodes if e.epoch == n])) for n in epochs)
