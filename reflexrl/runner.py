"""Training and frozen evaluation loops over a suite.

An epoch visits every prompt of the suite once, in a seeded order. Each episode runs the agent
on one prompt with an `EpisodeContext` in its config; the steps are read from the returned
messages, scored by the suite's reward model and (in training) credited to the memory.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import HumanMessage, messages_to_dict
from langchain_core.runnables import Runnable

from .episode import EpisodeContext
from .errors import EpisodeError
from .metrics import Metrics, by_query, summarize
from .records import Credit, Episode, RunInfo
from .simulated_user import RephrasingUser
from .store import MemoryStore
from .suite import Suite
from .trajectory import read_trajectory

EpisodeCallback = Callable[[Episode], None]


@dataclass(frozen=True)
class PlannedEpisode:
    """One slot of a run's seeded schedule."""

    index: int
    epoch: int
    query: str
    prompt: str


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

    def to_json(self) -> dict[str, Any]:
        """The `train --json` shape."""
        return {
            "run_id": self.run_id,
            "model": self.model,
            "episodes": len(self.episodes),
            "epochs": [e.to_json() for e in self.epochs],
            "memory": self.memory,
        }


@dataclass(frozen=True)
class EvalResult:
    """What a frozen evaluation measured."""

    model: str
    memory: str | None
    episodes: tuple[Episode, ...]
    metrics: Metrics
    per_query: dict[str, Metrics]

    def to_json(self) -> dict[str, Any]:
        """The `eval --json` shape."""
        m = self.metrics.to_json()
        keys = (
            "success_rate",
            "success_within_2",
            "mean_steps",
            "steps_to_valid",
            "clarification_rate",
            "wrong_tool_rate",
        )
        return {
            "model": self.model,
            "memory": self.memory,
            "episodes": self.metrics.episodes,
            **{k: m[k] for k in keys},
            "per_query": {q: _pick(v.to_json(), keys) for q, v in self.per_query.items()},
        }


def _pick(d: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: d[k] for k in keys}


def plan(suite: Suite, epochs: int, seed: int) -> list[PlannedEpisode]:
    """The run's episodes: each epoch shuffles every (query, prompt) with a seeded RNG."""
    planned: list[PlannedEpisode] = []
    for epoch in range(1, epochs + 1):
        pairs = list(suite.prompts())
        random.Random(f"reflexrl:order:{seed}:{epoch}").shuffle(pairs)
        for query, prompt in pairs:
            planned.append(PlannedEpisode(len(planned), epoch, query, prompt))
    return planned


def new_run_id() -> str:
    """A sortable, unique run id."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def run_episode(
    agent: Runnable[Any, Any],
    suite: Suite,
    slot: PlannedEpisode,
    ctx: EpisodeContext,
    run_id: str,
) -> Episode:
    """Run the agent on one prompt and read the scored episode out of its messages."""
    output = agent.invoke({"messages": [HumanMessage(slot.prompt)]}, ctx.config())
    messages = output["messages"] if isinstance(output, dict) else output
    reward_model = suite.reward_model
    trajectory = read_trajectory(messages, slot.query, reward_model, ctx.max_steps, ctx.credit)
    return _episode(
        slot,
        suite,
        run_id,
        explored=ctx.explored,
        outcome=trajectory.outcome or "max_steps",
        steps=trajectory.steps,
        messages=tuple(messages_to_dict(messages)),
        memory_blocks=tuple(ctx.memory_blocks),
    )


def _episode(slot: PlannedEpisode, suite: Suite, run_id: str, **fields: Any) -> Episode:
    return Episode(
        run_id=run_id,
        index=slot.index,
        epoch=slot.epoch,
        suite=suite.name,
        query=slot.query,
        prompt=slot.prompt,
        **fields,
    )


def _context(
    suite: Suite,
    slot: PlannedEpisode,
    seed: int,
    total: int,
    max_steps: int,
    *,
    frozen: bool = False,
    use_memory: bool = True,
    credit: Credit = "origin",
) -> EpisodeContext:
    rng = random.Random(f"reflexrl:user:{seed}:{slot.index}")
    return EpisodeContext(
        suite=suite.name,
        query=slot.query,
        seed=seed,
        index=slot.index,
        total=total,
        max_steps=max_steps,
        reward_model=suite.reward_model,
        user=RephrasingUser(suite.prompts_of(slot.query), rng),
        frozen=frozen,
        use_memory=use_memory,
        credit=credit,
    )


def _failed(slot: PlannedEpisode, suite: Suite, run_id: str, exc: Exception) -> Episode:
    error = f"{type(exc).__name__}: {exc}"
    return _episode(slot, suite, run_id, explored=False, outcome="failed", steps=(), error=error)


def train(
    agent: Runnable[Any, Any],
    suite: Suite,
    memory: MemoryStore,
    *,
    epochs: int = 10,
    seed: int = 0,
    max_steps: int = 4,
    credit: Credit = "origin",
    model: str = "",
    settings: dict[str, Any] | None = None,
    on_episode: EpisodeCallback | None = None,
) -> TrainResult:
    """Train `agent` on `suite`: run every episode, credit its rewards to `memory`.

    The agent must read the memory it is trained into (`ReflexMiddleware(memory)` or
    `reflexrl.wrap(agent, memory)`). Each episode is logged and credited in one transaction;
    if an episode raises, it is logged as failed, the run is marked failed, and
    `EpisodeError` is raised: the episodes before it are kept. `credit` picks the prompt a
    step's reward goes to (see `reflexrl.records.Credit`).
    """
    run_id = new_run_id()
    settings = {**(settings or {}), "credit": credit}
    memory.start_run(RunInfo(run_id, suite.name, model, seed, epochs, max_steps, settings))
    slots = plan(suite, epochs, seed)
    done: list[Episode] = []
    try:
        for slot in slots:
            ctx = _context(suite, slot, seed, len(slots), max_steps, credit=credit)
            done.append(_train_one(agent, suite, slot, ctx, run_id, memory))
            if on_episode:
                on_episode(done[-1])
    except KeyboardInterrupt:
        memory.finish_run(run_id, "interrupted")
        raise
    except BaseException:
        memory.finish_run(run_id, "failed")
        raise
    memory.finish_run(run_id, "completed")
    return TrainResult(run_id, model, suite.name, memory.location, tuple(done), per_epoch(done))


def _train_one(
    agent: Runnable[Any, Any],
    suite: Suite,
    slot: PlannedEpisode,
    ctx: EpisodeContext,
    run_id: str,
    memory: MemoryStore,
) -> Episode:
    try:
        episode = run_episode(agent, suite, slot, ctx, run_id)
    except Exception as exc:
        memory.record_episode(_failed(slot, suite, run_id, exc), update=False)
        raise EpisodeError(f"episode {slot.index} failed: {type(exc).__name__}: {exc}") from exc
    memory.record_episode(episode, update=True)
    return episode


def per_epoch(episodes: Sequence[Episode]) -> tuple[EpochMetrics, ...]:
    """Metrics for each epoch, in order."""
    epochs = sorted({e.epoch for e in episodes})
    return tuple(EpochMetrics(n, summarize([e for e in episodes if e.epoch == n])) for n in epochs)


def evaluate(
    agent: Runnable[Any, Any],
    suite: Suite,
    *,
    seed: int = 0,
    max_steps: int = 4,
    use_memory: bool = True,
    model: str = "",
    memory: str | None = None,
    repeats: int = 1,
    on_episode: EpisodeCallback | None = None,
) -> EvalResult:
    """Frozen evaluation: epsilon 0, nothing written, memory shown or not (`use_memory`).

    `memory` only labels the result (the agent reads the store it was built with).
    """
    slots = plan(suite, repeats, seed)
    episodes: list[Episode] = []
    for slot in slots:
        ctx = _context(suite, slot, seed, len(slots), max_steps, frozen=True, use_memory=use_memory)
        episodes.append(run_episode(agent, suite, slot, ctx, run_id="eval"))
        if on_episode:
            on_episode(episodes[-1])
    label = memory if use_memory else None
    return EvalResult(model, label, tuple(episodes), summarize(episodes), by_query(episodes))
