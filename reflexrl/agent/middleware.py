"""`ReflexMiddleware`: verbal RL for agents built with `langchain.agents.create_agent`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse, hook_config

from ..envs.clarification import ask_user_for_clarification
from ..envs.context import current_episode
from ..envs.exploration import EpsilonSchedule, as_schedule
from ..envs.trajectory import read_trajectory
from ..memory import MemoryStore
from .injection import MemoryInjector


class ReflexMiddleware(AgentMiddleware):
    """Renders the reward memory into the system prompt before every model call.

    It adds the `ask_user_for_clarification` tool, appends the reward rules and then the memory
    block, last, after the agent's own system prompt (the static prefix stays cacheable),
    applies epsilon resets, and, inside a training loop, ends the episode once a valid tool
    was called or the step budget is spent. It never chooses for the model: the model reads
    the block and decides.

    Args:
        memory: The memory store to read (the training loop writes to it); None: show no
            memory (the 'before' baseline).
        suite: Memory namespace outside a training loop (training uses the suite's name).
        epsilon: Exploration probability per training episode, or a schedule.
        render: "focused" (the current prompt's row and its actions; with a kNN memory, its
            nearest prompts'), "advice" (the advice alone, and nothing when there is none to
            give: for small models, which copy every tool name they read) or "paper" (every
            row).
        neighbour_text: With a kNN memory, quote the neighbours' prompts (False: their
            similarity and record only).
        untried: Tell the injector which tools the request offers, so a prompt's block names
            those it never tried and advises one while no tool has earned a reward (False:
            the best record, asking counting 0).
        cache_prefix: For Anthropic models, mark the static part of the system prompt for the
            provider's prompt cache (other providers cache prefixes automatically).
    """

    def __init__(
        self,
        memory: MemoryStore | None,
        *,
        suite: str = "default",
        epsilon: float | EpsilonSchedule = 0.05,
        render: str = "focused",
        neighbour_text: bool = True,
        untried: bool = True,
        cache_prefix: bool = True,
    ) -> None:
        super().__init__()
        schedule = as_schedule(epsilon)
        self.injector = MemoryInjector(memory, suite, schedule, render, neighbour_text)
        self.cache_prefix = cache_prefix
        self.untried = untried
        self.tools = [ask_user_for_clarification]

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """End a training episode once a valid tool was called or max_steps were taken.

        (A hook of its own: a jump decided inside `wrap_model_call` would not survive other
        middleware's `after_model` nodes.)
        """
        ctx = current_episode()
        if ctx is None:
            return None
        done = read_trajectory(state["messages"], ctx.query, ctx.reward_model, ctx.max_steps)
        return {"jump_to": "end"} if done.outcome is not None else None

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        """Call the model with the memory appended to the system prompt."""
        return handler(self._with_memory(request))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of `wrap_model_call`."""
        return await handler(self._with_memory(request))

    def _with_memory(self, request: ModelRequest) -> ModelRequest:
        """The request with the memory block. The first call of a training episode also
        starts it (epsilon reset, memory snapshot): no `before_agent` node for that."""
        ctx = current_episode()
        self.injector.start_episode(ctx)
        marked = self.cache_prefix and is_anthropic(request.model)
        prefix = request.system_prompt or ""
        tools = [tool_name(t) for t in request.tools] if self.untried else []
        message = self.injector.system_message(
            request.messages, ctx, prefix, tools=tools, cache_control=marked
        )
        return request.override(system_message=message)


def tool_name(tool: Any) -> str:
    """The name of a request's tool: a LangChain tool, or a provider's dict schema."""
    if isinstance(tool, dict):
        return str(tool.get("name") or tool.get("function", {}).get("name", ""))
    return str(tool.name)


def is_anthropic(model: Any) -> bool:
    """Whether a chat model talks to Anthropic's Messages API (explicit prompt caching):
    langchain-anthropic, or a LiteLLM route to an `anthropic/` model."""
    if str(getattr(model, "_llm_type", "")).startswith("anthropic"):
        return True
    return str(getattr(model, "model", "")).startswith("anthropic/")
