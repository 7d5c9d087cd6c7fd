"""Reading an episode out of an agent's messages: the current prompt, the steps, the outcome.

The message list is the one source of truth for what the agent did: the middleware, the
wrapper and the runner all read it with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from .records import CLARIFY, Credit, Outcome, Step
from .reward import RewardModel


def message_text(message: BaseMessage) -> str:
    """The plain text of a message (content blocks joined)."""
    return message.text


def is_user_turn(message: BaseMessage) -> bool:
    """A message that carries the user's words: a human message or a clarification answer."""
    if isinstance(message, HumanMessage):
        return True
    return isinstance(message, ToolMessage) and message.name == CLARIFY


def current_prompt(messages: Sequence[BaseMessage]) -> str | None:
    """The prompt being handled now: the latest user turn."""
    for message in reversed(messages):
        if is_user_turn(message):
            return message_text(message)
    return None


@dataclass(frozen=True)
class Trajectory:
    """The steps of an episode and how it ended (None: it is still going)."""

    steps: tuple[Step, ...]
    outcome: Outcome | None


def read_trajectory(
    messages: Sequence[BaseMessage],
    query: str,
    reward_model: RewardModel,
    max_steps: int,
    credit: Credit = "current",
) -> Trajectory:
    """Score the agent's tool calls: stop at the first valid tool or after `max_steps`."""
    steps: list[Step] = []
    prompt = origin = ""
    for message in messages:
        if is_user_turn(message):
            prompt = message_text(message)
            origin = origin or prompt
        if not isinstance(message, AIMessage):
            continue
        if not message.tool_calls:
            return Trajectory(tuple(steps), "answered")
        for call in message.tool_calls:
            if len(steps) == max_steps:
                return Trajectory(tuple(steps), "max_steps")
            credited = origin if credit == "origin" else prompt
            steps.append(_step(len(steps), (prompt, credited), call, query, reward_model))
            if steps[-1].valid:
                return Trajectory(tuple(steps), "valid")
    return Trajectory(tuple(steps), "max_steps" if len(steps) >= max_steps else None)


def _step(
    index: int, prompts: tuple[str, str], call: Any, query: str, reward_model: RewardModel
) -> Step:
    action = str(call["name"])
    return Step(
        index=index,
        prompt=prompts[0],
        credited_to=prompts[1],
        action=action,
        args=dict(call.get("args") or {}),
        reward=reward_model.reward(query, action),
        valid=action != CLARIFY and reward_model.is_valid(query, action),
    )
