"""Reading an episode out of an agent's messages: the current prompt, the steps, the outcome.

The message list is the one source of truth for what the agent did: the middleware, the
wrapper and the runner all read it with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from ..records import CLARIFY, DECLINE, INVALID_CALL, USER_STOP, Credit, Outcome, Step
from ..rewards.answer_key import RewardModel
from ..rewards.behaviour import BehaviourReward

__all__ = [
    "MAX_INVALID_ARGS",
    "Trajectory",
    "current_prompt",
    "current_request",
    "is_user_turn",
    "latest_user_turn",
    "read_trajectory",
    "request_turn",
]


def is_user_turn(message: BaseMessage) -> bool:
    """A message that carries the user's words: a human message or a clarification answer."""
    if isinstance(message, HumanMessage):
        return True
    return isinstance(message, ToolMessage) and message.name == CLARIFY


def latest_user_turn(messages: Sequence[BaseMessage]) -> BaseMessage | None:
    """The latest message that carries the user's words (None: there is none)."""
    return next((m for m in reversed(messages) if is_user_turn(m)), None)


def current_prompt(messages: Sequence[BaseMessage]) -> str | None:
    """The prompt being handled now: the latest user turn."""
    turn = latest_user_turn(messages)
    return None if turn is None else turn.text


def request_turn(messages: Sequence[BaseMessage]) -> Sequence[BaseMessage]:
    """The messages of the request being served: from the latest human message on (all of
    them if there is none); the user's answers to the agent's questions clarify it."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    return messages[start:]


def current_request(messages: Sequence[BaseMessage]) -> str:
    """The request being served: the latest human message ("" if there is none)."""
    turn = request_turn(messages)
    return turn[0].text if turn and isinstance(turn[0], HumanMessage) else ""


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
    """Score the agent's tool calls: stop at the first valid tool, after `max_steps`, or
    where the user gave up (`USER_STOP`).

    A tool call whose arguments could not be parsed (`invalid_tool_calls`) is a step with the
    action `INVALID_CALL`; a reply made only of such calls ends the episode (`invalid_call`).
    Where requests expect a behaviour (`BehaviourReward`), a reply to the user's words
    without a tool call is a step too: `DECLINE`.
    """
    steps: list[Step] = []
    prompt = origin = ""
    after_user = False
    for message in messages:
        if is_user_turn(message):
            if message.text.strip() == USER_STOP:  # the user left: nothing after counts
                return Trajectory(tuple(steps), "gave_up")
            prompt = message.text
            origin = origin or prompt
        if isinstance(message, AIMessage):
            prompts = (prompt, origin if credit == "origin" else prompt)
            reply = message
            if after_user and _declines(message, reward_model) and len(steps) < max_steps:
                reply = AIMessage("", tool_calls=[{"name": DECLINE, "args": {}, "id": "d"}])
            ended = _score_reply(reply, prompts, steps, query, reward_model, max_steps)
            if ended is not None:
                return Trajectory(tuple(steps), ended)
        after_user = is_user_turn(message)
    return Trajectory(tuple(steps), "max_steps" if len(steps) >= max_steps else None)


def _score_reply(
    message: AIMessage,
    prompts: tuple[str, str],
    steps: list[Step],
    query: str,
    reward_model: RewardModel,
    max_steps: int,
) -> Outcome | None:
    """Append the reply's steps to `steps`; how the episode ended with it, if it did."""
    calls = [*message.tool_calls, *map(_invalid, message.invalid_tool_calls)]
    if not calls:
        return "answered"
    for call in calls:
        if len(steps) == max_steps:
            return "max_steps"
        steps.append(_step(len(steps), prompts, call, query, reward_model))
        if steps[-1].valid:
            return "valid"
    return None if message.tool_calls else "invalid_call"


def _declines(message: AIMessage, reward_model: RewardModel) -> bool:
    """A reply without a tool call, where declining is a decision with its reward."""
    calls = message.tool_calls or message.invalid_tool_calls
    return not calls and isinstance(reward_model, BehaviourReward)


MAX_INVALID_ARGS = 500
"""Characters kept of an invalid call's raw arguments."""


def _invalid(call: Any) -> dict[str, Any]:
    """An invalid tool call as a call of `INVALID_CALL`, the attempt kept as its arguments."""
    raw = call.get("args")
    args = None if raw is None else str(raw)[:MAX_INVALID_ARGS]
    return {"name": INVALID_CALL, "args": {"name": str(call.get("name")), "args": args}}


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
        valid=reward_model.is_valid(query, action),
    )
