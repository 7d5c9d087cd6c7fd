"""Scripted chat models: test doubles for the machinery, never evidence of learning.

`PolicyChatModel` backs the `fake:` specs (`oracle`: a valid tool, read from the suite's answer
key; `first`: the suite's first tool; `clarify`: always asks). `ScriptedChatModel` replays a
queue of AI messages and records every request it received, for tests of your own agents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import PrivateAttr

from ..envs.trajectory import current_prompt
from ..records import CLARIFY
from .action import ActionChatModel, chat_result

__all__ = ["FakePolicy", "PolicyChatModel", "ScriptedChatModel"]

FakePolicy = Literal["oracle", "first", "clarify"]


class PolicyChatModel(ActionChatModel):
    """A scripted tool-calling policy (see module docstring). Deterministic."""

    policy: FakePolicy
    answer_key: Mapping[str, Sequence[str]] = {}
    """prompt -> valid tools; only `oracle` reads it."""

    @property
    def _llm_type(self) -> str:
        return f"reflexrl-fake-{self.policy}"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        """The scripted choice for the latest request."""
        tools = [t["name"] for t in self.bound_tools if t["name"] != CLARIFY]
        if self.policy == "first" and tools:
            return tools[0]
        if self.policy == "oracle":
            return next(iter(self.answer_key.get(current_prompt(messages) or "", ())), CLARIFY)
        return CLARIFY


class ScriptedChatModel(BaseChatModel):
    """Replays `script` in order and records the messages (system prompt included) it got."""

    script: list[AIMessage]
    _requests: list[list[BaseMessage]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "reflexrl-scripted"

    @property
    def requests(self) -> list[list[BaseMessage]]:
        """Every call's input messages, in order."""
        return self._requests

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Tools do not change a script; the same object keeps recording."""
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self._requests.append(list(messages))
        index = len(self._requests) - 1
        message = self.script[index] if index < len(self.script) else AIMessage("(end of script)")
        return chat_result(message)
