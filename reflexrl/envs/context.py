"""The per-episode context a training loop hands to the agent through the run config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config

from ..memory import MemoryReader
from ..records import Credit
from ..rewards.answer_key import RewardModel
from ..usage import Usage
from .simulated_user import SimulatedUser

__all__ = ["CONFIG_KEY", "EpisodeContext", "current_episode"]

CONFIG_KEY = "reflexrl_episode"


@dataclass
class EpisodeContext:
    """What the injector and the clarification tool need to know about the running episode.

    The runner creates one per episode and passes it as
    `config={"configurable": {"reflexrl_episode": ctx}}`. The injector (middleware or
    wrapper) writes back `explored`, the memory blocks it showed and the memory snapshot the
    episode reads (`view`: the memory as of the episode's start, whatever other episodes
    running at the same time write); the model-call middleware adds up `usage`. Outside a
    training loop there is no context: the memory is shown, nobody explores, and a
    clarification goes to a real person.
    """

    suite: str
    query: str
    seed: int
    index: int
    total: int
    max_steps: int
    reward_model: RewardModel
    user: SimulatedUser
    frozen: bool = False
    use_memory: bool = True
    credit: Credit = "origin"
    offered: tuple[dict[str, Any], ...] | None = None
    """The request's own tools (OpenAI function specs), offered instead of the agent's, when
    the suite gives each request its own (item suites): they are only schemas, so the
    episode ends at the model's first decision."""
    request_context: str = ""
    """What the request is said in (an item's `context`: the date), added to the system
    prompt before the memory block; empty: nothing."""
    declines: bool = True
    """With `offered`: answering without a tool is a decision of the request (declining),
    shown among the untried actions (False: the slot-filling dialogues, where it is not)."""
    started: bool = False
    explored: bool = False
    memory_blocks: list[str] = field(default_factory=list)
    view: MemoryReader | None = None
    usage: Usage = field(default_factory=Usage)

    def close(self) -> None:
        """Release the memory snapshot (the runner calls this when the episode ends)."""
        if self.view is not None:
            self.view.close()
            self.view = None

    def config(self) -> RunnableConfig:
        """A run config carrying this context (and enough recursion for max_steps)."""
        return RunnableConfig(
            configurable={CONFIG_KEY: self}, recursion_limit=4 * self.max_steps + 16
        )


def current_episode(config: RunnableConfig | None = None) -> EpisodeContext | None:
    """The episode context of the current run, if a training loop started it."""
    if config is None:
        try:
            config = get_config()
        except RuntimeError:
            return None
    ctx = (config or {}).get("configurable", {}).get(CONFIG_KEY)
    return ctx if isinstance(ctx, EpisodeContext) else None
