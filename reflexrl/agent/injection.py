"""What the middleware and the wrapper share: epsilon resets and the system text they inject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from ..envs.context import EpisodeContext
from ..envs.exploration import EpsilonSchedule
from ..envs.trajectory import current_request, latest_user_turn
from ..memory import Exploration, MemoryStore
from ..prompt.instructions import static_system
from ..prompt.renderers import Renderer, check_rendering, get_renderer
from ..records import DECLINE
from .learning import Learning


@dataclass
class MemoryInjector:
    """Renders a store's memory for the prompt being handled, with epsilon resets. Without a
    store (None) it shows no memory: the 'before' baseline."""

    memory: MemoryStore | None
    suite: str = "default"
    schedule: EpsilonSchedule = field(default_factory=EpsilonSchedule)
    render: str = "focused"
    neighbour_text: bool = True
    min_evidence: int = 0
    explore: Exploration = "try"
    renderer: Renderer = field(init=False)

    def __post_init__(self) -> None:
        self.renderer = get_renderer(
            self.render,
            neighbour_text=self.neighbour_text,
            min_evidence=self.min_evidence,
            explore=self.explore,
        )
        if self.memory is not None:
            check_rendering(self.render, self.memory.lookup_kind)

    @classmethod
    def for_agent(
        cls,
        memory: MemoryStore | None,
        suite: str,
        schedule: EpsilonSchedule,
        render: str,
        neighbour_text: bool | None,
        learning: Learning | None,
    ) -> MemoryInjector:
        """The injector of an agent that learns with `learning` (None: it only reads):
        neighbours' text quoted unless it learns (`neighbour_text` None), and its guards."""
        quote = learning is None if neighbour_text is None else neighbour_text
        if learning is None:
            return cls(memory, suite, schedule, render, quote)
        return cls(memory, suite, schedule, render, quote, learning.min_evidence, learning.explore)

    def start_episode(self, ctx: EpisodeContext | None) -> None:
        """Draw the episode's epsilon reset (training only; frozen evaluations never explore)
        and pin the memory it will see: the memory as of now. Once per episode."""
        if ctx is None or ctx.started:
            return
        ctx.started = True
        ctx.explored = not ctx.frozen and self.schedule.explores(ctx.seed, ctx.index, ctx.total)
        if ctx.use_memory and self.memory is not None:
            ctx.view = self.memory.snapshot()

    def system_parts(
        self,
        messages: Sequence[BaseMessage],
        ctx: EpisodeContext | None,
        tools: Sequence[str] = (),
        prefix: str = "",
    ) -> tuple[str, str | None]:
        """`prefix` and the static instructions, and the memory block (None with memory off)
        for an agent that can call `tools` (their names; empty: unknown, no tool is shown as
        untried).

        The block is logged into `ctx`. It always comes last, after everything static, so a
        provider's prefix cache keeps the rest.
        """
        if self.memory is None or (ctx is not None and not ctx.use_memory):
            return static_system(prefix), None
        suite = ctx.suite if ctx is not None else self.suite
        explored = bool(ctx and ctx.explored)
        reader = ctx.view if ctx is not None and ctx.view is not None else self.memory
        turn = latest_user_turn(messages)  # a clarification answer arrives as a ToolMessage
        prompt, answered = ("", False) if turn is None else (turn.text, turn.type == "tool")
        request = current_request(messages) if answered else ""
        block = self.renderer(
            reader, suite, prompt, explored, tools=tools, answered=answered, request=request
        )
        if ctx is not None:
            ctx.memory_blocks.append(block)
        return static_system(prefix, self.render), block

    def system_message(
        self,
        messages: Sequence[BaseMessage],
        ctx: EpisodeContext | None,
        prefix: str = "",
        *,
        tools: Sequence[str] = (),
        cache_control: bool = False,
    ) -> SystemMessage:
        """`prefix`, the static instructions, then the memory block last.

        Plain text (every OpenAI-compatible server accepts it), or with `cache_control` two
        text blocks, the static one marked for Anthropic's prompt cache so that the tools and
        the static instructions are read from the cache while the memory block changes.
        """
        head, block = self.system_parts(messages, ctx, tools, prefix)
        return system_message(head, block, cache_control=cache_control)


def system_message(head: str, block: str | None, *, cache_control: bool = False) -> SystemMessage:
    """The static `head` then the memory `block` as one system message: plain text, or with
    `cache_control` two text blocks, the static one marked for Anthropic's prompt cache."""
    if not cache_control:
        return SystemMessage(content="\n\n".join(p for p in (head, block) if p))
    marked = {"type": "text", "text": head, "cache_control": {"type": "ephemeral"}}
    rest = [{"type": "text", "text": block}] if block else []
    return SystemMessage(content=[marked, *rest])


def tool_name(tool: Any) -> str:
    """The name of a request's tool: a LangChain tool, or a provider's dict schema."""
    if isinstance(tool, dict):
        return str(tool.get("name") or tool.get("function", {}).get("name", ""))
    return str(tool.name)


def request_actions(tools: Sequence[Any], ctx: EpisodeContext | None) -> list[str]:
    """The names of the actions a model call offers: its tools, and declining (answering
    without a tool) where a request with its own tools makes that a decision."""
    names = [tool_name(t) for t in tools]
    if names and ctx is not None and ctx.offered is not None and ctx.declines:
        names.append(DECLINE)
    return names
