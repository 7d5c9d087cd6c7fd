"""`reflexrl.agent.wrap`: verbal RL for an agent that is already built (any LangChain runnable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from ..envs.context import current_episode
from ..envs.exploration import EpsilonSchedule, as_schedule
from ..errors import BadInputError
from ..memory import MemoryStore
from ..prompt.block import split_memory
from .injection import MemoryInjector
from .learning import BLOCK_KEY, Learner, Learning, as_learning


def wrap(
    runnable: Runnable[Any, Any],
    memory: MemoryStore,
    *,
    suite: str = "default",
    epsilon: float | EpsilonSchedule = 0.05,
    render: str = "focused",
    neighbour_text: bool | None = None,
    tools: Sequence[str] = (),
    learn: bool | Learning = False,
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
        neighbour_text: With a kNN memory, quote the neighbours' prompts (default: unless
            `learn`).
        tools: The names of the tools the agent can call: a prompt's block then names those
            it never tried, and advises trying one while no tool has earned a reward (the
            middleware reads them from each request; a built agent does not tell).
        learn: As for `ReflexMiddleware`: outside a training loop,
            log every invocation, waiting for its reward (the output then carries its
            `reflexrl_run_id`: the run id it was invoked with, or a new one). The wrapped
            agent then runs inside one step, so `stream` yields its output at the end.
    """
    quote = not learn if neighbour_text is None else neighbour_text
    settings = as_learning(learn)
    evidence = 0 if settings is None else settings.min_evidence
    injector = MemoryInjector(memory, suite, as_schedule(epsilon), render, quote, evidence)

    def _inject(value: Any, config: RunnableConfig) -> dict[str, Any]:
        messages: list[BaseMessage] = convert_to_messages(_messages_of(value))
        ctx = current_episode(config)
        injector.start_episode(ctx)
        memory_message = injector.system_message(messages, ctx, tools=tools)
        return {**_as_dict(value), "messages": [memory_message, *messages]}

    chain = RunnableLambda(_inject) | runnable
    if settings is None:
        return chain
    if settings.shadow:
        msg = "shadow mode needs ReflexMiddleware (wrap injects its block before the agent runs)"
        raise BadInputError(msg, setting="learn")
    learner = Learner(memory, suite, settings)

    def _log(output: Any, config: RunnableConfig) -> Any:
        if current_episode(config) is not None or not isinstance(output, dict):
            return output
        messages = convert_to_messages(output.get("messages", []))
        _tag_blocks(messages)
        parent = getattr(config.get("callbacks"), "parent_run_id", None)
        thread = (config.get("configurable") or {}).get("thread_id")
        logged = learner.log(messages, None if parent is None else str(parent), thread)
        return {**output, "reflexrl_run_id": logged.run_id}

    def _learning(value: Any, config: RunnableConfig) -> Any:
        return _log(chain.invoke(value, config), config)

    async def _alearning(value: Any, config: RunnableConfig) -> Any:
        return _log(await chain.ainvoke(value, config), config)

    return RunnableLambda(_learning, afunc=_alearning, name="reflexrl_wrap")


def _tag_blocks(messages: Sequence[BaseMessage]) -> None:
    """Note on each reply the memory block of the system message it followed (`wrap`
    injects one per invocation), as the middleware notes the block of each call."""
    block = None
    for message in messages:
        if message.type == "system":
            block = split_memory(message.text)[1] or block
        elif isinstance(message, AIMessage) and block is not None:
            message.response_metadata.setdefault(BLOCK_KEY, block)


def _messages_of(value: Any) -> Any:
    if isinstance(value, str):
        return [("user", value)]
    return value["messages"] if isinstance(value, dict) else value


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
