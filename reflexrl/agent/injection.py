"""What the middleware and the wrapper share: epsilon resets and the system text they inject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage, SystemMessage

from ..envs.context import EpisodeContext
from ..envs.exploration import EpsilonSchedule
from ..envs.trajectory import current_prompt
from ..errors import BadInputError
from ..loop.config import KNN_NEEDS_FOCUSED
from ..memory import MemoryStore
from ..prompt.render import MEMORY_NOTE, NOTES, REWARD_RULES, Renderer, get_renderer


@dataclass
class MemoryInjector:
    """Renders a store's memory for the prompt being handled, with epsilon resets."""

    memory: MemoryStore
    suite: str = "default"
    schedule: EpsilonSchedule = field(default_factory=EpsilonSchedule)
    render: str = "focused"
    neighbour_text: bool = True
    renderer: Renderer = field(init=False)

    def __post_init__(self) -> None:
        self.renderer = get_renderer(self.render, neighbour_text=self.neighbour_text)
        if self.render == "paper" and self.memory.lookup_kind == "knn":
            raise BadInputError(KNN_NEEDS_FOCUSED)

    def start_episode(self, ctx: EpisodeContext | None) -> None:
        """Draw the episode's epsilon reset (training only; frozen evaluations never explore)
        and pin the memory it will see: the memory as of now. Once per episode."""
        if ctx is None or ctx.started:
            return
        ctx.started = True
        ctx.explored = not ctx.frozen and self.schedule.explores(ctx.seed, ctx.index, ctx.total)
        if ctx.use_memory:
            ctx.view = self.memory.snapshot()

    def system_parts(
        self,
        messages: Sequence[BaseMessage],
        ctx: EpisodeContext | None,
        tools: Sequence[str] = (),
    ) -> tuple[str, str | None]:
        """The static instructions, and the memory block (None with memory off) for an agent
        that can call `tools` (their names; empty: unknown, no tool is shown as untried).

        The block is logged into `ctx`. It always comes last, after everything static, so a
        provider's prefix cache keeps the rest.
        """
        if ctx is not None and not ctx.use_memory:
            return REWARD_RULES, None
        suite = ctx.suite if ctx is not None else self.suite
        explored = bool(ctx and ctx.explored)
        reader = ctx.view if ctx is not None and ctx.view is not None else self.memory
        block = self.renderer(reader, suite, current_prompt(messages) or "", explored, tools=tools)
        if ctx is not None:
            ctx.memory_blocks.append(block)
        note = NOTES.get(self.render, MEMORY_NOTE)
        return "\n\n".join(p for p in (REWARD_RULES, note) if p), block

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
        static, block = self.system_parts(messages, ctx, tools)
        head = "\n\n".join(p for p in (prefix, static) if p)
        if not cache_control:
            return SystemMessage(content="\n\n".join(p for p in (head, block) if p))
        marked = {"type": "text", "text": head, "cache_control": {"type": "ephemeral"}}
        rest = [{"type": "text", "text": block}] if block else []
        return SystemMessage(content=[marked, *rest])
