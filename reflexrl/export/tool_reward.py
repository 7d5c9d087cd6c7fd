"""A reward function for TRL's GRPO trainer, built from a suite's reward model.

TRL calls a reward function with the completions and every extra column of the dataset as
keyword arguments; the `trl-grpo` export's `valid_tools` column is the query's valid tools.
The function scores the action each completion calls the way training does: the suite's
`valid` weight for a valid tool, `clarify` for asking, `wrong` for any other tool, and, unlike
training, `wrong` for a completion that calls no action at all (a model that learned to answer
without calling would otherwise earn as much as one that asks).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..envs.suite import Suite
from ..records import CLARIFY
from ..rewards.answer_key import RewardWeights

RewardFunction = Callable[..., list[float]]


def tool_reward(suite: Suite | str) -> RewardFunction:
    """`reward(completions, valid_tools, **columns) -> rewards` for `GRPOTrainer(reward_funcs=)`.

    Args:
        suite: The suite (or its name or path): its tools and reward weights.
    """
    loaded = suite if isinstance(suite, Suite) else Suite.load(suite)
    actions = [*loaded.tool_names, CLARIFY]
    weights = loaded.spec.reward

    def reward(
        completions: Sequence[Any], valid_tools: Sequence[Sequence[str]], **_: Any
    ) -> list[float]:
        return [
            score(called_action(c, actions), valid, weights)
            for c, valid in zip(completions, valid_tools, strict=True)
        ]

    reward.__name__ = f"reflexrl_{loaded.name}_tool_reward"
    return reward


def score(action: str | None, valid: Sequence[str], weights: RewardWeights) -> float:
    """The reward of calling `action` (None: no action) when `valid` are the valid tools."""
    if action == CLARIFY:
        return weights.clarify
    return weights.valid if action in valid else weights.wrong


def called_action(completion: Any, actions: Sequence[str]) -> str | None:
    """The action a completion calls: a structured tool call, a JSON `"name"`, else the first
    action named in its text (None: it names none)."""
    message: Mapping[str, Any] = {}
    if isinstance(completion, list) and completion and isinstance(completion[0], Mapping):
        message = completion[0]
    elif isinstance(completion, Mapping):
        message = completion
    for call in message.get("tool_calls") or []:
        name = (call.get("function") or call).get("name")
        if name in actions:
            return str(name)
    text = str(message.get("content") or "") if message else str(completion)
    return _named(text, actions)


def _named(text: str, actions: Sequence[str]) -> str | None:
    for match in re.finditer(r"\{[^{}]*\}", text):
        try:
            name = json.loads(match.group()).get("name")
        except (json.JSONDecodeError, AttributeError):
            continue
        if name in actions:
            return str(name)
    longest_first = sorted(actions, key=len, reverse=True)
    found = re.search(r"\b(" + "|".join(map(re.escape, longest_first)) + r")\b", text)
    return found.group(1) if found else None
