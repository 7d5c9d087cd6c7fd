"""The ReAct agent the CLI trains: a `create_agent` graph with `ReflexMiddleware`."""

from __future__ import annotations

from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from .calls import ModelCallMiddleware
from .exploration import EpsilonSchedule
from .middleware import ReflexMiddleware
from .store import MemoryStore
from .suite import Suite

SYSTEM_PROMPT = """\
You are an assistant that fulfils each user request by calling exactly one of your tools. \
Choose the tool whose description matches what the user asks for."""


def build_agent(
    model: BaseChatModel,
    suite: Suite,
    memory: MemoryStore,
    *,
    epsilon: float | EpsilonSchedule = 0.05,
    render: str = "focused",
    calls: ModelCallMiddleware | None = None,
) -> Runnable[Any, Any]:
    """A ReAct agent over the suite's tools that reads `memory` before every model call.

    `calls` (retries, limits, budget, usage, response cache) wraps each call inside the
    memory middleware, so it sees the request with the memory block.
    """
    reflex = ReflexMiddleware(memory, suite=suite.name, epsilon=epsilon, render=render)
    middleware = [reflex, calls or ModelCallMiddleware()]
    return create_agent(model, suite.tools, system_prompt=SYSTEM_PROMPT, middleware=middleware)
