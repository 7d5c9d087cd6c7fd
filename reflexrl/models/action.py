"""`ActionChatModel`: a chat model whose every reply is one call to one of its bound tools.

The base of the scripted `fake:` policies and of the embedded `local:` models. A subclass
says which action to take (`choose_action`: a tool, or `DECLINE` to answer without one);
this class binds tools, fills the arguments (every
required string argument gets the user's request text), and ends the ReAct loop with a short
final answer once a tool (other than a clarification) has returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool

from ..envs.trajectory import current_prompt
from ..records import CLARIFY, DECLINE

__all__ = ["DECLINED", "ActionChatModel", "chat_result"]

DECLINED = "I cannot do that with the tools I have."
"""The answer of a policy that declines (`reflexrl.records.DECLINE`)."""


class ActionChatModel(BaseChatModel):
    """Replies with one tool call chosen by `choose_action`; see the module docstring."""

    bound_tools: Sequence[Mapping[str, Any]] = ()

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ActionChatModel:
        """Remember the tools' schemas (names, descriptions, arguments) to choose among."""
        schemas = [convert_to_openai_tool(t)["function"] for t in tools]
        return self.model_copy(update={"bound_tools": schemas})

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        """The name of the action to call for the latest request."""
        raise NotImplementedError

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        last = messages[-1] if messages else None
        if isinstance(last, ToolMessage) and last.name != CLARIFY:
            return chat_result(AIMessage(content=f"Done. The tool returned: {last.text[:300]}"))
        name = self.choose_action(messages)
        if name == DECLINE:
            return chat_result(AIMessage(content=DECLINED))
        args = self._args(name, current_prompt(messages) or "")
        call = {"name": name, "args": args, "id": f"call_{len(messages)}"}
        return chat_result(AIMessage(content="", tool_calls=[call]))

    def _args(self, name: str, request: str) -> dict[str, Any]:
        schema = next((t for t in self.bound_tools if t["name"] == name), {})
        params = schema.get("parameters", {})
        props = params.get("properties", {})
        required = params.get("required", list(props))
        return {p: request for p in required if props.get(p, {}).get("type") == "string"}


def chat_result(message: AIMessage) -> ChatResult:
    """A chat model's result of one reply (what `_generate` returns)."""
    return ChatResult(generations=[ChatGeneration(message=message)])
