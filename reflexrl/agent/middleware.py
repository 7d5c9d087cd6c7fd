"""`ReflexMiddleware`: verbal RL for agents built with `langchain.agents.create_agent`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NotRequired

from langchain.agents.middleware import (
    AgentMiddleware,
    AgentState,
    ModelRequest,
    ModelResponse,
    hook_config,
)
from langchain_core.messages import AIMessage

from ..envs.clarification import ask_user_for_clarification
from ..envs.context import current_episode
from ..envs.exploration import EpsilonSchedule, as_schedule
from ..envs.trajectory import read_trajectory
from ..errors import BadInputError
from ..memory import MemoryStore
from ..prompt.instructions import static_system
from .injection import MemoryInjector, request_actions, system_message
from .learning import BLOCK_KEY, Learner, Learning, as_learning


class LearningState(AgentState):
    """The agent's state, plus the id its invocation is logged under with `learn=True`."""

    reflexrl_run_id: NotRequired[str]


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
            similarity and record only). Default: quote them, unless `learn` (in production
            they are other users' words).
        untried: Tell the injector which tools the request offers, so a prompt's block
            advises one it never tried while no tool has earned a reward (False:
            the best record, asking counting 0). With `learn`, a prompt on which a tool
            failed is advised to ask instead (`Learning.explore`).
        cache_prefix: For Anthropic models, mark the static part of the system prompt for the
            provider's prompt cache (other providers cache prefixes automatically).
        learn: Outside a training loop, log every invocation in `memory` as an episode
            waiting for its reward, under the run id the agent was invoked with
            (`config={"run_id": ...}`, else a new one, returned as the state's
            `reflexrl_run_id`); `reflexrl.feedback` (or `reflexrl feedback`) credits it.
            True: the defaults (outcomes under the feedback, no judge, 7 days to wait), or
            a `reflexrl.Learning` with other sources, timing and guards (its
            `min_evidence` holds back advice that rests on too few rewards).
    """

    state_schema = LearningState

    def __init__(
        self,
        memory: MemoryStore | None,
        *,
        suite: str = "default",
        epsilon: float | EpsilonSchedule = 0.05,
        render: str = "focused",
        neighbour_text: bool | None = None,
        untried: bool = True,
        cache_prefix: bool = True,
        learn: bool | Learning = False,
    ) -> None:
        super().__init__()
        settings = as_learning(learn)
        self.injector = MemoryInjector.for_agent(
            memory, suite, as_schedule(epsilon), render, neighbour_text, settings
        )
        self.cache_prefix = cache_prefix
        self.untried = untried
        self.tools = [ask_user_for_clarification]
        self.learner = None
        if settings is not None:
            if memory is None:
                raise BadInputError("learning needs a memory to log into", setting="memory")
            self.learner = Learner(memory, suite, settings)

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

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """End an episode on a request with its own tools at its first decision: they are
        only schemas, with nothing to run."""
        ctx = current_episode()
        return {"jump_to": "end"} if ctx is not None and ctx.offered is not None else None

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        """With `learn`, outside training: log the invocation, waiting for its reward."""
        if self.learner is None or current_episode() is not None:
            return None
        info = runtime.execution_info
        run_id = None if info is None or info.run_id is None else str(info.run_id)
        thread = None if info is None or info.thread_id is None else str(info.thread_id)
        logged = self.learner.log(state["messages"], run_id, thread)
        return {"reflexrl_run_id": logged.run_id}

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        """Call the model with the memory appended to the system prompt."""
        with_memory, block = self._with_memory(request)
        return self._tagged(handler(with_memory), block)

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse:
        """Async twin of `wrap_model_call`."""
        with_memory, block = self._with_memory(request)
        return self._tagged(await handler(with_memory), block)

    def _tagged(self, response: ModelResponse, block: str | None) -> ModelResponse:
        """With `learn`, each reply notes the memory block its call saw: a decision is
        logged with the block it was taken on (training logs blocks in its episode)."""
        if self.learner is not None and block is not None:
            for message in response.result:
                if isinstance(message, AIMessage):
                    message.response_metadata[BLOCK_KEY] = block
        return response

    def _with_memory(self, request: ModelRequest) -> tuple[ModelRequest, str | None]:
        """The request with the memory block, and the block. The first call of a training
        episode also starts it (epsilon reset, memory snapshot): no `before_agent` node."""
        ctx = current_episode()
        self.injector.start_episode(ctx)
        if ctx is not None and ctx.offered is not None:  # the request's own tools, and asking
            request = request.override(tools=[*ctx.offered, *self.tools])
        marked = self.cache_prefix and is_anthropic(request.model)
        prefix = request.system_prompt or ""
        if ctx is not None and ctx.request_context:
            prefix = f"{prefix}\n\n{ctx.request_context}".strip()
        tools = request_actions(request.tools, ctx) if self.untried else []
        head, block = self.injector.system_parts(request.messages, ctx, tools, prefix)
        if ctx is None and self.learner is not None and self.learner.settings.shadow:
            message = system_message(static_system(prefix), None, cache_control=marked)
        else:
            message = system_message(head, block, cache_control=marked)
        return request.override(system_message=message), block


def is_anthropic(model: Any) -> bool:
    """Whether a chat model talks to Anthropic's Messages API (explicit prompt caching):
    langchain-anthropic, or a LiteLLM route to an `anthropic/` model."""
    if str(getattr(model, "_llm_type", "")).startswith("anthropic"):
        return True
    return str(getattr(model, "model", "")).startswith("anthropic/")
