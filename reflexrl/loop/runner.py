"""Training and frozen evaluation loops over a suite.

An epoch visits every prompt of the suite once, in a seeded order. Each episode runs the agent
(its async API) on one prompt with an `EpisodeContext` in its config; the steps are read from
the returned messages, scored by the suite's reward model and (in training) credited to the
memory in one transaction. Up to `concurrency` episodes run at once, started in the planned
order; each sees the memory as of its own start. An episode that fails (after the model-call
middleware's retries) is logged as a failure, credits nothing and is run again on resume.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from operator import add
from typing import Any, Literal

from langchain_core.messages import HumanMessage, messages_to_dict
from langchain_core.runnables import Runnable

from .. import event_loop
from ..envs.context import EpisodeContext
from ..envs.simulated_user import RephrasingUser
from ..envs.suite import Suite
from ..envs.trajectory import read_trajectory
from ..errors import BadInputError, BudgetExceededError, EpisodeError, RunFailedError
from ..memory import MemoryStore
from ..records import Episode, Failure, RunInfo
from ..safety.redaction import redact_error
from ..usage import Usage
from .config import RunConfig, Split
from .metrics import Metrics, by_query, summarize

EpisodeCallback = Callable[[Episode | Failure], None]
RunStatus = Literal["running", "completed", "incomplete", "interrupted", "stopped", "failed"]
"""`completed`: every episode finished; `incomplete`: some failed (resume retries them);
`interrupted`: Ctrl-C; `stopped`: `--max-cost` reached; `failed`: too many failures in a row."""
MAX_ERROR_CHARS = 500
EXTRA_THREADS = 4
"""Worker threads beyond one per concurrent episode (for its synchronous tools)."""


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


@dataclass(frozen=True)
class EvalResult:
    """What a frozen evaluation measured."""

    model: str
    memory: str | None
    episodes: tuple[Episode, ...]
    metrics: Metrics
    per_query: dict[str, Metrics]
    failures: tuple[Failure, ...] = ()
    usage: Usage = field(default_factory=Usage)
    split: Split = "all"
    """The prompts evaluated (see `RunConfig.split`)."""

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
            "advised_steps",
            "advice_following_rate",
        )
        return {
            "model": self.model,
            "memory": self.memory,
            "split": self.split,
            "episodes": self.metrics.episodes,
            "failed": len(self.failures),
            **{k: m[k] for k in keys},
            "per_query": {q: _pick(v.to_json(), keys) for q, v in self.per_query.items()},
            "usage": self.usage.to_json(),
        }


def _pick(d: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: d[k] for k in keys}


def plan(
    suite: Suite, epochs: int, seed: int, split: Split = "all", holdout: int = 0
) -> Iterator[PlannedEpisode]:
    """The run's episodes, made as they are needed (a long run holds no list of them): each
    epoch shuffles every (query, prompt) of the split with a seeded RNG."""
    pairs = list(suite.prompts(split, holdout))
    for epoch in range(1, epochs + 1):
        order = pairs.copy()
        random.Random(f"reflexrl:order:{seed}:{epoch}").shuffle(order)
        start = (epoch - 1) * len(pairs)
        for offset, (query, prompt) in enumerate(order):
            yield PlannedEpisode(start + offset, epoch, query, prompt)


def plan_size(suite: Suite, epochs: int, split: Split = "all", holdout: int = 0) -> int:
    """How many episodes `plan(suite, epochs, seed, split, holdout)` makes."""
    return epochs * sum(1 for _ in suite.prompts(split, holdout))


def new_run_id() -> str:
    """A sortable, unique run id."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


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
        usage=ctx.usage,
    )


def _context(
    suite: Suite, slot: PlannedEpisode, config: RunConfig, total: int, *, training: bool
) -> EpisodeContext:
    """An episode's context. In training the simulated user rephrases with training prompts
    only (held-out prompts stay unseen); in an evaluation with any prompt of the query."""
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
        user=RephrasingUser(pool, rng),
        frozen=not training,
        use_memory=config.use_memory or training,
        credit=config.credit,
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
class _Session:
    """Runs planned episodes, `concurrency` at a time, and decides when to stop early."""

    agent: Runnable[Any, Any]
    suite: Suite
    run_id: str
    context: Callable[[PlannedEpisode], EpisodeContext]
    finished: Callable[[Episode], None]
    failed: Callable[[Failure], None]
    concurrency: int = 1
    max_failures: int = 5
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

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _episode(self, slot: PlannedEpisode) -> None:
        ctx = self.context(slot)
        try:
            episode = await arun_episode(self.agent, self.suite, slot, ctx, self.run_id)
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


def train(
    agent: Runnable[Any, Any],
    suite: Suite,
    memory: MemoryStore,
    config: RunConfig | None = None,
    *,
    resume: str | None = None,
    on_episode: EpisodeCallback | None = None,
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
    Runs on reflexrl's event loop (`reflexrl.event_loop`); inside a running loop, use
    `atrain`.

    Args:
        agent: The agent (a `create_agent` graph, or any runnable over `{"messages": ...}`).
        suite: The suite: its prompts, reward model and tools.
        memory: The memory the agent reads (open it with `reflexrl.open_memory`).
        config: The run's settings (default `RunConfig()`), logged with the run.
        resume: A logged run's id: run the episodes of that run that have not finished,
            with the same plan (its settings must match: see `check_resumable`).
        on_episode: Called with every finished episode and every failed attempt.
        **settings: `RunConfig` fields overriding `config` (`train(..., epochs=3, seed=1)`).
    """
    config = (config or RunConfig()).with_(**settings)
    return event_loop.run(
        atrain(agent, suite, memory, config, resume=resume, on_episode=on_episode),
        threads=config.concurrency + EXTRA_THREADS,
    )


async def atrain(
    agent: Runnable[Any, Any],
    suite: Suite,
    memory: MemoryStore,
    config: RunConfig | None = None,
    *,
    resume: str | None = None,
    on_episode: EpisodeCallback | None = None,
    **settings: Any,
) -> TrainResult:
    """Async twin of `train` (same arguments)."""
    config = (config or RunConfig()).with_(**{**settings, "lookup": memory.lookup_kind})
    suite.check_holdout(config.holdout)
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
    todo = (s for s in slots if s.index not in finished_before)

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
        return _context(suite, slot, config, total, training=True)

    session = _Session(
        agent,
        suite,
        run.run_id,
        context,
        finished,
        failed,
        config.concurrency,
        config.max_failures,
    )
    try:
        await session.run(todo)
    except (KeyboardInterrupt, asyncio.CancelledError):
        memory.finish_run(run.run_id, "interrupted")
        raise
    except BaseException:
        memory.finish_run(run.run_id, "failed")
        raise
    return _close_run(memory, run, session, total, done)


def _open_run(memory: MemoryStore, run: RunInfo, resume: bool) -> list[Episode]:
    """Log a new run, or reopen one; return the episodes it already finished."""
    if not resume:
        memory.start_run(run)
        return []
    check_resumable(memory, run)
    memory.finish_run(run.run_id, "running")
    return list(memory.episodes(run.run_id))


def check_resumable(memory: MemoryStore, run: RunInfo) -> RunInfo:
    """The logged run `run.run_id`, if it can be resumed with `run`'s plan.

    Raises:
        BadInputError: no such run, it already completed, or its plan differs.
    """
    logged = resume_info(memory, run.run_id)
    if logged.status == "completed":
        raise BadInputError(f"--resume: run {run.run_id} already completed")
    mine = (run.suite, run.seed, run.epochs, run.max_steps, run.settings.get("holdout", 0))
    theirs = (
        logged.suite,
        logged.seed,
        logged.epochs,
        logged.max_steps,
        logged.settings.get("holdout", 0),
    )
    if mine != theirs:
        msg = (
            f"--resume: run {run.run_id} was planned with suite, seed, epochs, max_steps, "
            f"holdout {theirs}, not {mine}"
        )
        raise BadInputError(msg)
    return logged


def resume_info(memory: MemoryStore, run_id: str) -> RunInfo:
    """The logged run to resume (its suite, model, seed, epochs, max_steps and settings)."""
    runs = {r.run_id: r for r in memory.runs()}
    if run_id not in runs:
        raise BadInputError(f"--resume: no run '{run_id}' in {memory.location}")
    return runs[run_id]


def _close_run(
    memory: MemoryStore, run: RunInfo, session: _Session, planned: int, done: list[Episode]
) -> TrainResult:
    episodes = tuple(sorted(done, key=lambda e: e.index))
    failures = memory.failures(run.run_id)
    status: RunStatus = session.stop or ("completed" if len(episodes) == planned else "incomplete")
    memory.finish_run(run.run_id, status)
    usage = total_usage([*episodes, *failures])
    result = TrainResult(
        run.run_id,
        run.model,
        run.suite,
        memory.location,
        episodes,
        per_epoch(episodes),
        status,
        planned - len(episodes),
        usage,
    )
    if status == "failed":
        msg = (
            f"{session.in_a_row} episodes in a row failed, last: {session.last_error}; "
            f"run {run.run_id} is saved, resume it with --resume {run.run_id}"
        )
        raise RunFailedError(msg, result)
    return result


def total_usage(records: Sequence[Episode | Failure]) -> Usage:
    """What a set of episodes and failed attempts spent in all."""
    return reduce(add, (r.usage for r in records), Usage())


def per_epoch(episodes: Sequence[Episode]) -> tuple[EpochMetrics, ...]:
    """Metrics for each epoch, in order."""
    epochs = sorted({e.epoch for e in episodes})
    return tuple(EpochMetrics(n, summarize([e for e in episodes if e.epoch == n])) for n in epochs)


def evaluate(
    agent: Runnable[Any, Any],
    suite: Suite,
    config: RunConfig | None = None,
    *,
    memory: str | None = None,
    on_episode: EpisodeCallback | None = None,
    **settings: Any,
) -> EvalResult:
    """Frozen evaluation: epsilon 0, nothing written, memory shown or not.

    Visits the prompts of `config.split` `config.epochs` times. `memory` only labels the
    result (the agent reads the store it was built with). Failed episodes are counted in
    `failures` and left out of the metrics; after 5 failures in a row, or at the budget, the
    evaluation stops with `EpisodeError`/`BudgetExceededError`. `**settings` override
    `config`'s fields, as in `train`.
    """
    config = (config or RunConfig(epochs=1)).with_(**settings)
    return event_loop.run(
        aevaluate(agent, suite, config, memory=memory, on_episode=on_episode),
        threads=config.concurrency + EXTRA_THREADS,
    )


async def aevaluate(
    agent: Runnable[Any, Any],
    suite: Suite,
    config: RunConfig | None = None,
    *,
    memory: str | None = None,
    on_episode: EpisodeCallback | None = None,
    **settings: Any,
) -> EvalResult:
    """Async twin of `evaluate` (same arguments)."""
    config = (config or RunConfig(epochs=1)).with_(**settings)
    suite.check_holdout(config.holdout)
    if config.split != "all" and config.holdout == 0:
        raise BadInputError(f"split '{config.split}' needs a holdout of at least 1 prompt")
    total = plan_size(suite, config.epochs, config.split, config.holdout)
    episodes: list[Episode] = []
    failures: list[Failure] = []

    def keep(into: list[Any]) -> Callable[[Any], None]:
        def _keep(record: Any) -> None:
            into.append(record)
            if on_episode:
                on_episode(record)

        return _keep

    def context(slot: PlannedEpisode) -> EpisodeContext:
        return _context(suite, slot, config, total, training=False)

    session = _Session(
        agent, suite, "eval", context, keep(episodes), keep(failures), config.concurrency
    )
    await session.run(plan(suite, config.epochs, config.seed, config.split, config.holdout))
    if session.stop is not None:
        msg = (
            f"evaluation stopped after {len(failures)} failed episodes, last: {session.last_error}"
        )
        raise BudgetExceededError(msg) if session.stop == "stopped" else EpisodeError(msg)
    episodes.sort(key=lambda e: e.index)
    label = memory if config.use_memory else None
    metrics = summarize(episodes)
    usage = total_usage([*episodes, *failures])
    return EvalResult(
        config.model,
        label,
        tuple(episodes),
        metrics,
        by_query(episodes),
        tuple(failures),
        usage,
        config.split,
    )
