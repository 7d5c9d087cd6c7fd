"""`reflexrl.agent.wrap`: verbal RL for an agent that is already built (any LangChain runnable)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..envs.clarification import ask_user_for_clarification
from ..envs.context import EpisodeContext, current_episode
from ..envs.exploration import EpsilonSchedule, as_schedule
from ..errors import BadInputError
from ..memory import MemoryStore
from ..prompt.block import split_memory
from .injection import MemoryInjector, request_actions
from .learning import BLOCK_KEY, Learner, Learning, as_learning

AgentFactory = Callable[[list[dict[str, Any]]], Runnable[Any, Any]]
"""Builds the agent for a request that brings its own tools, from those tools and asking
(OpenAI function specs, only schemas): `lambda tools: create_agent(model, tools)`."""


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
    agent_for: AgentFactory | None = None,
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
        tools: The names of the tools the agent can call: a prompt's block then advises
            one it never tried while no tool has earned a reward (the
            middleware reads them from each request; a built agent does not tell). With
            `learn`, a prompt on which a tool failed is advised to ask instead
            (`Learning.explore`).
        learn: As for `ReflexMiddleware`: outside a training loop,
            log every invocation, waiting for its reward (the output then carries its
            `reflexrl_run_id`: the run id it was invoked with, or a new one). The wrapped
            agent then runs inside one step, so `stream` yields its output at the end.
        agent_for: For suites whose requests bring their own tools (item suites, the
            slot-filling dialogues): builds the agent each such request runs, given its tools
            and asking, as schemas only. Built with `create_agent`, an agent of schemas alone
            ends at the model's first decision, as such a request's episode does.

    Raises:
        BadInputError: (when invoked) a request brings its own tools and there is no
            `agent_for`: `runnable` would be offered its own tools instead.
    """
    settings = as_learning(learn)
    if settings is not None and settings.shadow:
        msg = "shadow mode needs ReflexMiddleware (wrap injects its block before the agent runs)"
        raise BadInputError(msg, setting="learn")
    injector = MemoryInjector.for_agent(
        memory, suite, as_schedule(epsilon), render, neighbour_text, settings
    )

    def _inject(value: Any, config: RunnableConfig) -> tuple[Runnable[Any, Any], dict[str, Any]]:
        messages: list[BaseMessage] = convert_to_messages(_messages_of(value))
        ctx = current_episode(config)
        injector.start_episode(ctx)
        prefix = "" if ctx is None else ctx.request_context
        agent, names = _request_agent(ctx, runnable, agent_for, tools)
        memory_message = injector.system_message(messages, ctx, prefix, tools=names)
        return agent, {**_as_dict(value), "messages": [memory_message, *messages]}

    def _run(value: Any, config: RunnableConfig) -> Any:
        agent, inputs = _inject(value, config)
        return agent.invoke(inputs, config)

    async def _arun(value: Any, config: RunnableConfig) -> Any:
        agent, inputs = _inject(value, config)
        return await agent.ainvoke(inputs, config)

    chain = RunnableLambda(_run, afunc=_arun, name="reflexrl_inject")
    return chain if settings is None else _learning(chain, Learner(memory, suite, settings))


def _learning(chain: Runnable[Any, Any], learner: Learner) -> Runnable[Any, Any]:
    """`chain`, logging each invocation outside a training loop, waiting for its reward."""

    def _log(output: Any, config: RunnableConfig) -> Any:
        if current_episode(config) is not None or not isinstance(output, dict):
            return output
        messages = convert_to_messages(output.get("messages", []))
        _tag_blocks(messages)
        parent = getattr(config.get("callbacks"), "parent_run_id", None)
        thread = (config.get("configurable") or {}).get("thread_id")
        logged = learner.log(messages, None if parent is None else str(parent), thread)
        return {**output, "reflexrl_run_id": logged.run_id}

    def _run(value: Any, config: RunnableConfig) -> Any:
        return _log(chain.invoke(value, config), config)

    async def _arun(value: Any, config: RunnableConfig) -> Any:
        return _log(await chain.ainvoke(value, config), config)

    return RunnableLambda(_run, afunc=_arun, name="reflexrl_wrap")


def _request_agent(
    ctx: EpisodeContext | None,
    runnable: Runnable[Any, Any],
    agent_for: AgentFactory | None,
    tools: Sequence[str],
) -> tuple[Runnable[Any, Any], Sequence[str]]:
    """The agent a request runs and the names of its actions: the wrapped one with `tools`,
    or, for a request with its own tools, the one `agent_for` builds for them and asking
    (building one costs under a millisecond)."""
    if ctx is None or ctx.offered is None:
        return runnable, tools
    if agent_for is None:
        msg = (
            f"the requests of {ctx.suite!r} bring their own tools; give a factory that builds "
            "the agent for them (for example `lambda tools: create_agent(model, tools)`)"
        )
        raise BadInputError(msg, setting="agent_for")
    specs = [*ctx.offered, convert_to_openai_tool(ask_user_for_clarification)]
    return agent_for(specs), request_actions(specs, ctx)


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
