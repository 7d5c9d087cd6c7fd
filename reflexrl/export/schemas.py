"""The export formats as their documentation states them, as pydantic models.

TRL: `docs/source/dataset_formats.md` (conversational language modeling with a `tools` column,
preference with an explicit prompt, unpaired preference, prompt-only; tool calls as
`{"type": "function", "function": {"name", "arguments": dict}}`, tool answers as
`{"role": "tool", "name", "content"}`). OpenAI: the fine-tuning guides (supervised: `messages`,
`tools`, `parallel_tool_calls`; DPO: `input`, `preferred_output`, `non_preferred_output`; tool
calls with an `id` and `arguments` as a JSON string, tool answers with a `tool_call_id`).
Every record an export writes validates against its format's model.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "user", "assistant", "tool"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionSchema(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any]


class ToolSchema(_Strict):
    """A tool the agent was offered (the JSON-schema shape both TRL and OpenAI read)."""

    type: Literal["function"]
    function: FunctionSchema


class TrlFunctionCall(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any]


class TrlToolCall(_Strict):
    type: Literal["function"]
    function: TrlFunctionCall


class TrlMessage(_Strict):
    role: Role
    content: str | None = None
    tool_calls: list[TrlToolCall] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> TrlMessage:
        _check_message(self.role, self.content, self.tool_calls, tool_answer=("name", self.name))
        return self


def _check_message(
    role: str, content: str | None, calls: list[Any] | None, tool_answer: tuple[str, str | None]
) -> None:
    """What every message needs: an assistant's content or tool calls, the others' content,
    and a tool answer's link to its call (`tool_answer`: the field's name and value)."""
    if role == "assistant" and not (content or calls):
        raise ValueError("an assistant message needs content or tool_calls")
    if role != "assistant" and content is None:
        raise ValueError(f"a {role} message needs content")
    if role == "tool" and not tool_answer[1]:
        raise ValueError(f"a tool message needs {tool_answer[0]}")


def _last_is_assistant(messages: list[Any]) -> list[Any]:
    if messages[-1].role != "assistant":
        raise ValueError("the last message is the assistant's")
    return messages


def _one_assistant(messages: list[Any]) -> list[Any]:
    if len(messages) != 1 or messages[0].role != "assistant":
        raise ValueError("expected one assistant message")
    return messages


class TrlSft(_Strict):
    """Conversational language modeling with tools."""

    messages: list[TrlMessage] = Field(min_length=2)
    tools: list[ToolSchema]

    _last = field_validator("messages")(_last_is_assistant)


class TrlDpo(_Strict):
    """Conversational preference, explicit prompt."""

    prompt: list[TrlMessage] = Field(min_length=1)
    chosen: list[TrlMessage]
    rejected: list[TrlMessage]
    tools: list[ToolSchema]

    _chosen = field_validator("chosen", "rejected")(_one_assistant)


class TrlKto(_Strict):
    """Conversational unpaired preference."""

    prompt: list[TrlMessage] = Field(min_length=1)
    completion: list[TrlMessage]
    label: bool
    tools: list[ToolSchema]

    _completion = field_validator("completion")(_one_assistant)


class TrlGrpo(_Strict):
    """Conversational prompt-only, with extra columns for the reward function."""

    prompt: list[TrlMessage] = Field(min_length=1)
    tools: list[ToolSchema]
    valid_tools: list[str] = Field(min_length=1)
    query: str


class OpenAIFunctionCall(_Strict):
    name: str = Field(min_length=1)
    arguments: str

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, arguments: str) -> str:
        if not isinstance(json.loads(arguments), dict):
            raise ValueError("arguments must be a JSON object")
        return arguments


class OpenAIToolCall(_Strict):
    id: str = Field(min_length=1)
    type: Literal["function"]
    function: OpenAIFunctionCall


class OpenAIMessage(_Strict):
    role: Role
    content: str | None = None
    tool_calls: list[OpenAIToolCall] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> OpenAIMessage:
        answer = ("tool_call_id", self.tool_call_id)
        _check_message(self.role, self.content, self.tool_calls, tool_answer=answer)
        return self


class OpenAISft(_Strict):
    """Supervised fine-tuning with tools."""

    messages: list[OpenAIMessage] = Field(min_length=2)
    tools: list[ToolSchema]
    parallel_tool_calls: bool

    _last = field_validator("messages")(_last_is_assistant)


class OpenAIDpoInput(_Strict):
    messages: list[OpenAIMessage] = Field(min_length=1)
    tools: list[ToolSchema]
    parallel_tool_calls: bool


class OpenAIDpo(_Strict):
    """Direct preference optimization."""

    input: OpenAIDpoInput
    preferred_output: list[OpenAIMessage]
    non_preferred_output: list[OpenAIMessage]

    _outputs = field_validator("preferred_output", "non_preferred_output")(_one_assistant)


SCHEMAS: dict[str, type[BaseModel]] = {
    "trl-sft": TrlSft,
    "trl-dpo": TrlDpo,
    "trl-kto": TrlKto,
    "trl-grpo": TrlGrpo,
    "openai-sft": OpenAISft,
    "openai-dpo": OpenAIDpo,
}
