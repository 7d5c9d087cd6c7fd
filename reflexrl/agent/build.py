"""The ReAct agent the CLI trains: a `create_agent` graph with `ReflexMiddleware`."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from ..envs.suite import Suite
from ..loop.config import RunConfig
from ..loop.dialogues import SLOT_SUITE
from ..memory import MemoryStore
from ..models.call_policy import ModelCallMiddleware
from .middleware import ReflexMiddleware

SYSTEM_PROMPT = """\
You are an assistant that fulfils each user request by calling exactly one of your tools. \
Choose the tool whose description matches what the user asks for."""
DECLINING_PROMPT = (
    "You are an assistant that fulfils each user request by calling one of the tools offered "
    "with it, whose description matches what the user asks for. If a required detail is "
    "missing or wrong, ask the user. If no offered tool serves the request, say so without "
    "calling a tool."
)
"""The system prompt of requests that come with their own tools (item suites)."""
DIALOGUE_PROMPT = (
    "You are a voice assistant. Each turn, call one of the tools offered: the user's intent "
    "once you know which it is, or the question for a detail that intent still needs and "
    "the user has not answered. If the request could mean several intents, ask the user."
)
"""The system prompt of the slot-filling dialogues (`reflexrl.loop.dialogues`)."""


def build_agent(
    model: BaseChatModel,
    suite: Suite,
    memory: MemoryStore | None,
    config: RunConfig | None = None,
    *,
    calls: ModelCallMiddleware | None = None,
    **settings: Any,
) -> Runnable[Any, Any]:
    """A ReAct agent over the suite's tools that reads `memory` before every model call
    (None: an agent shown no memory, the 'before' baseline).

    It explores with `config`'s epsilon schedule and renders the memory as `config.render`
    says (`**settings` override `config`'s fields). `calls` (retries, limits, budget, usage,
    response cache) wraps each call inside the memory middleware, so it sees the request
    with the memory block.
    """
    config = (config or RunConfig()).with_(**settings)
    system = DECLINING_PROMPT if suite.declines else SYSTEM_PROMPT
    return _agent(model, suite.tools, system, memory, suite.name, config, calls)


def build_dialogue_agent(
    model: BaseChatModel,
    memory: MemoryStore | None,
    config: RunConfig | None = None,
    *,
    calls: ModelCallMiddleware | None = None,
    **settings: Any,
) -> Runnable[Any, Any]:
    """The agent `reflexrl.loop.dialogues.play_dialogues` plays the slot-filling
    environment with: no tools of its own (each turn offers the intents and the slot
    questions), the memory under the dialogues' namespace; otherwise as `build_agent`."""
    config = (config or RunConfig()).with_(**settings)
    return _agent(model, [], DIALOGUE_PROMPT, memory, SLOT_SUITE, config, calls)


def _agent(
    model: BaseChatModel,
    tools: list[Any],
    system: str,
    memory: MemoryStore | None,
    suite: str,
    config: RunConfig,
    calls: ModelCallMiddleware | None,
) -> Runnable[Any, Any]:
    reflex = ReflexMiddleware(
        memory,
        suite=suite,
        epsilon=config.schedule(),
        render=config.render,
        neighbour_text=config.neighbour_text,
        untried=config.untried,
    )
    middleware = [reflex, calls or ModelCallMiddleware()]
    return create_agent(model, tools, system_prompt=system, middleware=middleware)
