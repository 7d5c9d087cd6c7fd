"""`reflexrl.agent.wrap`: verbal RL for an agent that is already built (any LangChain runnable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ..envs.context import current_episode
from ..envs.exploration import EpsilonSchedule, as_schedule
from ..memory import MemoryStore
from .injection import MemoryInjector


def wrap(
    runnable: Runnable[Any, Any],
    memory: MemoryStore,
    *,
    suite: str = "default",
    epsilon: float | EpsilonSchedule = 0.05,
    render: str = "focused",
    neighbour_text: bool = True,
    tools: Sequence[str] = (),
) -> Runnable[Any, Any]:
    """Wrap a built agent so it sees the reward memory as a system message.

    The memory is injected once per invocation, before the conversation (a middleware
    refreshes it before every model call; prefer `ReflexMiddleware` when you build the agent).
    Give the agent `reflexrl.ask_user_for_clarification` among its tools so it can ask. The
    training loop reads the actions from the returned messages.

    Args:
        runnable: Takes and returns `{"messages": [...]}` (a `create_agent` graph does).
        memory: The memory store to read.
        suite: Memory namespace outside a training loop.
        epsilon: Exploration probability per training episode, or a schedule.
        render: "focused", "advice" or "paper" (see `ReflexMiddleware`).
        neighbour_text: With a kNN memory, quote the neighbours' prompts.
        tools: The names of the tools the agent can call: a prompt's block then names those
            it never tried, and advises trying one while no tool has earned a reward (the
            middleware reads them from each request; a built agent does not tell).
    """
    injector = MemoryInjector(memory, suite, as_schedule(epsilon), render, neighbour_text)

    def _inject(value: Any, config: RunnableConfig) -> dict[str, Any]:
        messages: list[BaseMessage] = convert_to_messages(_messages_of(value))
        ctx = current_episode(config)
        injector.start_episode(ctx)
        memory_message = injector.system_message(messages, ctx, tools=tools)
        return {**_as_dict(value), "messages": [memory_message, *messages]}

    return RunnableLambda(_inject) | runnable


def _messages_of(value: Any) -> Any:
    if isinstance(value, str):
        return [("user", value)]
    return value["messages"] if isinstance(value, dict) else value


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
