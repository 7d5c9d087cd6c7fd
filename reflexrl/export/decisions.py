"""The decisions of the log: each model call that chose an action, in its context, scored.

An episode's messages hold the conversation (the user's request, the agent's tool calls, the
tools' answers, the rephrased requests); its steps hold the rewards; its memory blocks hold
what the memory showed at each model call. A `Decision` joins the three for one model call:
what the agent had read, what it called, what that earned. Every export format is built from
decisions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, messages_from_dict

from ..envs.trajectory import is_user_turn
from ..records import CLARIFY, Episode

Message = Mapping[str, Any]
"""A message in the neutral shape exports start from: `role`, `content`, and for the
assistant `tool_calls` (`id`, `name`, `arguments` as a dict), for a tool `name` and
`tool_call_id`."""


@dataclass(frozen=True)
class Decision:
    """One model call of an episode that called an action, and what it earned."""

    run_id: str
    episode: int
    epoch: int
    explored: bool
    success: bool
    """The episode reached a valid tool."""
    suite: str
    query: str
    prompt: str
    """The request being handled when the agent decided (a rephrasing after a question)."""
    context: tuple[Message, ...]
    """The conversation before the decision (no system message)."""
    reply: Message
    """The assistant message the agent wrote: its tool calls."""
    reward: float
    """The sum of the rewards of the reply's tool calls."""
    block: str | None
    """The memory block the agent saw at this call (None: none was logged)."""

    @property
    def action(self) -> str:
        """The reply's action: its tool's name (several calls: the names joined by `+`)."""
        return "+".join(str(c["name"]) for c in self.reply["tool_calls"])

    @property
    def situation(self) -> tuple[str, str]:
        """What identifies the decision's situation: the suite and the request being handled,
        as the memory keys its rows (decisions on one request, whatever came before it)."""
        return (self.suite, self.prompt)

    @property
    def is_clarification(self) -> bool:
        """The agent asked instead of calling a tool."""
        return self.action == CLARIFY


def decisions_of(episode: Episode) -> Iterator[Decision]:
    """The decisions of one episode, in order (replies after the last step are not ones).

    A reply that holds a call the agent could not make (invalid arguments) is no decision:
    there is no well-formed message to learn from or against.
    """
    messages = messages_from_dict([dict(m) for m in episode.messages])
    steps = list(episode.steps)
    context: list[Message] = []
    prompt = episode.prompt
    calls_seen = model_calls = 0
    for message in messages:
        if isinstance(message, AIMessage):
            n = len(message.tool_calls) + len(message.invalid_tool_calls)
            taken = steps[calls_seen : calls_seen + n]
            if message.tool_calls and not message.invalid_tool_calls and taken:
                block = _get(episode.memory_blocks, model_calls)
                yield _decision(
                    episode, prompt, context, message, sum(s.reward for s in taken), block
                )
            calls_seen += n
            model_calls += 1
            if calls_seen >= len(steps):
                return
        elif is_user_turn(message):
            prompt = message.text
        context.append(neutral(message))


def _get(blocks: Sequence[str], index: int) -> str | None:
    return blocks[index] if index < len(blocks) else None


def _decision(
    episode: Episode,
    prompt: str,
    context: Sequence[Message],
    message: AIMessage,
    reward: float,
    block: str | None,
) -> Decision:
    return Decision(
        run_id=episode.run_id,
        episode=episode.index,
        epoch=episode.epoch,
        explored=episode.explored,
        success=episode.success,
        suite=episode.suite,
        query=episode.query,
        prompt=prompt,
        context=tuple(context),
        reply=neutral(message),
        reward=reward,
        block=block,
    )


def neutral(message: BaseMessage) -> Message:
    """A LangChain message in the neutral shape (`Message`)."""
    if isinstance(message, AIMessage):
        calls = [
            {"id": c.get("id") or f"call_{i}", "name": c["name"], "arguments": dict(c["args"])}
            for i, c in enumerate(message.tool_calls)
        ]
        return {"role": "assistant", "content": message.text, "tool_calls": calls}
    if isinstance(message, ToolMessage):
        return {
            "role": "tool",
            "name": message.name or "",
            "tool_call_id": message.tool_call_id,
            "content": message.text,
        }
    role = {"human": "user", "system": "system"}.get(message.type, message.type)
    return {"role": role, "content": message.text}
