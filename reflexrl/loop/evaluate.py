"""The frozen evaluation: no exploration, nothing written, the memory shown or not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from .. import event_loop
from ..envs.context import EpisodeContext
from ..envs.simulated_user import check_user_model
from ..envs.suite import Suite
from ..errors import BudgetExceededError, EpisodeError
from ..records import Episode, Failure
from ..usage import Usage
from .config import RunConfig, Split
from .metrics import Metrics, by_query, summarize, total_usage
from .plan import PlannedEpisode, plan, plan_size
from .session import EXTRA_THREADS, EpisodeCallback, Session, episode_context

COMPARED_KEYS = (
    "success_rate",
    "success_within_2",
    "mean_steps",
    "steps_to_valid",
    "clarification_rate",
    "wrong_tool_rate",
    "advised_steps",
    "advice_following_rate",
)
"""The metrics of an evaluation's JSON, overall and per query."""


@dataclass(frozen=True)
class EvalResult:
    """What a frozen evaluation measured."""

    model: str
    memory: str | None
    """The memory shown (None: the run showed none)."""
    episodes: tuple[Episode, ...]
    metrics: Metrics
    per_query: dict[str, Metrics]
    failures: tuple[Failure, ...] = ()
    usage: Usage = field(default_factory=Usage)
    split: Split = "all"
    """The prompts evaluated (see `RunConfig.split`)."""

    def to_json(self) -> dict[str, Any]:
        """The `eval --json` shape."""
        return {
            "model": self.model,
            "memory": self.memory,
            "split": self.split,
            "episodes": self.metrics.episodes,
            "failed": len(self.failures),
            **_pick(self.metrics.to_json(), COMPARED_KEYS),
            "per_query": {q: _pick(v.to_json(), COMPARED_KEYS) for q, v in self.per_query.items()},
            "conversations": self.conversations(),
            "usage": self.usage.to_json(),
        }

    def conversations(self) -> dict[str, float]:
        """Each episode scored as a conversation (PolyAI's conversation-level reward), as
        shares and a mean: the goal reached (a valid tool), the user's turns (its request and
        each answer), the user gave up (`--user template:...` past its patience)."""
        n = max(len(self.episodes), 1)
        return {
            "goal_reached": round(sum(e.success for e in self.episodes) / n, 4),
            "user_turns": round(sum(1 + e.clarifications for e in self.episodes) / n, 4),
            "gave_up": round(sum(e.outcome == "gave_up" for e in self.episodes) / n, 4),
        }


def _pick(d: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: d[k] for k in keys}


async def aevaluate(
    agent: Runnable[Any, Any],
    suite: Suite,
    config: RunConfig | None = None,
    *,
    memory: str | None = None,
    on_episode: EpisodeCallback | None = None,
    user_model: BaseChatModel | None = None,
    **settings: Any,
) -> EvalResult:
    """Frozen evaluation: epsilon 0, nothing written, memory shown or not.

    Visits the prompts of `config.split` `config.epochs` times. The agent reads the store it
    was built with, unless `config.use_memory` is False (the 'before' baseline); `memory`
    names that store in the result (`EvalResult.memory`, None when the memory is off).
    Failed episodes are counted in `failures` and left out of the metrics; after 5 failures
    in a row, or at the budget, the evaluation stops with `EpisodeError` or
    `BudgetExceededError`. `**settings` override `config`'s fields, as in `train`, and
    `user_model` plays an `llm:` user, as in `train`.
    `evaluate` (the same arguments) runs it on reflexrl's event loop; inside a running loop,
    await `aevaluate`.
    """
    config = (config or RunConfig(epochs=1)).with_(**settings)
    event_loop.reserve_threads(config.concurrency + EXTRA_THREADS)
    suite.check_holdout(config.holdout)
    check_user_model(config.user, user_model)
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
        return episode_context(suite, slot, config, total, training=False, user_model=user_model)

    session = Session(
        agent, suite, "eval", context, keep(episodes), keep(failures), config.concurrency
    )
    await session.run(plan(suite, config.epochs, config.seed, config.split, config.holdout))
    if session.stop is not None:
        msg = (
            f"evaluation stopped after {len(failures)} failed episodes, last: {session.last_error}"
        )
        raise BudgetExceededError(msg) if session.stop == "stopped" else EpisodeError(msg)
    episodes.sort(key=lambda e: e.index)
    return EvalResult(
        config.model,
        memory if config.use_memory else None,
        tuple(episodes),
        summarize(episodes),
        by_query(episodes),
        tuple(failures),
        total_usage([*episodes, *failures]),
        config.split,
    )


evaluate = event_loop.blocking(aevaluate)
