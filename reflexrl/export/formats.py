"""Export formats: records built from decisions, in TRL's and OpenAI's documented shapes.

- `trl-sft`: `{"messages", "tools"}`, one per decision that took the best action of its
  situation (tool-call `arguments` a dict, as TRL's dataset formats state);
- `trl-dpo`: `{"prompt", "chosen", "rejected", "tools"}`: on the same request, the best
  action taken on it (the valid tool, or asking where no tool earned a reward) over a wrong
  tool, both answering the wrong decision's conversation;
- `trl-kto`: `{"prompt", "completion", "label", "tools"}`: the label is the sign of the reward
  (a clarification is desirable where asking was the best action taken, else left out);
- `trl-grpo`: prompt-only `{"prompt", "tools", "valid_tools", "query"}`, one per request;
  `reflexrl.export.tool_reward` scores completions with the suite's reward model;
- `openai-sft`: `{"messages", "tools", "parallel_tool_calls": false}` (`arguments` a JSON
  string); `openai-dpo`: `{"input": {"messages", "tools", "parallel_tool_calls"},
  "preferred_output", "non_preferred_output"}`, one assistant message a side.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .decisions import Decision, Message
from .selection import Situation

Record = dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What every record of an export needs besides its decisions."""

    tools: tuple[Mapping[str, Any], ...]
    """The tool schemas the agent was offered (OpenAI function-tool shape)."""
    valid_tools: Mapping[str, Sequence[str]]
    """Each query's valid tools (GRPO's reward column)."""
    system: Callable[[Decision], str]
    """The system text a record shows for a decision."""


def trl_message(message: Message) -> Record:
    """A neutral message in TRL's conversational shape."""
    if message["role"] == "assistant":
        calls = [
            {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in message["tool_calls"]
        ]
        return {"role": "assistant", **_content(message), "tool_calls": calls}
    if message["role"] == "tool":
        return {"role": "tool", "name": message["name"], "content": message["content"]}
    return {"role": message["role"], "content": message["content"]}


def openai_message(message: Message) -> Record:
    """A neutral message in OpenAI's chat-completions shape."""
    if message["role"] == "assistant":
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
            }
            for c in message["tool_calls"]
        ]
        return {"role": "assistant", **_content(message), "tool_calls": calls}
    if message["role"] == "tool":
        return {
            "role": "tool",
            "tool_call_id": message["tool_call_id"],
            "content": message["content"],
        }
    return {"role": message["role"], "content": message["content"]}


def _content(message: Message) -> dict[str, str]:
    return {"content": message["content"]} if message["content"] else {}


def _prompt(d: Decision, ctx: Context, shape: Callable[[Message], Record]) -> list[Record]:
    return [{"role": "system", "content": ctx.system(d)}, *map(shape, d.context)]


def sft(
    groups: Sequence[Situation], ctx: Context, shape: Callable[[Message], Record]
) -> Iterator[Record]:
    """The decisions that took the best action of their situation, as conversations."""
    for group in groups:
        best = group.best
        if best is None:
            continue
        for d in group.decisions:
            if d.action == best.action:
                yield {
                    "messages": [*_prompt(d, ctx, shape), shape(d.reply)],
                    "tools": list(ctx.tools),
                }


def pairs(groups: Sequence[Situation]) -> Iterator[tuple[Decision, Decision]]:
    """(chosen, rejected): the best action of a situation over each wrong tool taken there
    (the rejected decision's own prompt: with memory, the block it saw)."""
    for group in groups:
        best = group.best
        if best is None:
            continue
        for d in group.decisions:
            if d.reward < 0 and d.reward < best.reward:
                yield best, d


def trl_dpo(groups: Sequence[Situation], ctx: Context) -> Iterator[Record]:
    """TRL preference records (conversational, explicit prompt)."""
    for chosen, rejected in pairs(groups):
        yield {
            "prompt": _prompt(rejected, ctx, trl_message),
            "chosen": [trl_message(chosen.reply)],
            "rejected": [trl_message(rejected.reply)],
            "tools": list(ctx.tools),
        }


def openai_dpo(groups: Sequence[Situation], ctx: Context) -> Iterator[Record]:
    """OpenAI preference fine-tuning records."""
    for chosen, rejected in pairs(groups):
        yield {
            "input": {
                "messages": _prompt(rejected, ctx, openai_message),
                "tools": list(ctx.tools),
                "parallel_tool_calls": False,
            },
            "preferred_output": [openai_message(chosen.reply)],
            "non_preferred_output": [openai_message(rejected.reply)],
        }


def kto_label(d: Decision, group: Situation) -> bool | None:
    """Desirable (a positive reward, or asking where asking was the best action taken),
    undesirable (a negative reward), or None (asking where a tool earned a reward)."""
    if d.reward != 0:
        return d.reward > 0
    best = group.best
    return True if best is not None and best.action == d.action else None


def trl_kto(groups: Sequence[Situation], ctx: Context) -> Iterator[Record]:
    """TRL unpaired preference records."""
    for group in groups:
        for d in group.decisions:
            label = kto_label(d, group)
            if label is not None:
                yield {
                    "prompt": _prompt(d, ctx, trl_message),
                    "completion": [trl_message(d.reply)],
                    "label": label,
                    "tools": list(ctx.tools),
                }


def trl_grpo(groups: Sequence[Situation], ctx: Context) -> Iterator[Record]:
    """TRL prompt-only records, one per request (its first conversation), with the query's
    valid tools."""
    for group in groups:
        d = group.decisions[0]
        yield {
            "prompt": _prompt(d, ctx, trl_message),
            "tools": list(ctx.tools),
            "valid_tools": list(ctx.valid_tools[d.query]),
            "query": d.query,
        }


def build(fmt: str, groups: Sequence[Situation], ctx: Context) -> Iterator[Record]:
    """The records of one format."""
    if fmt == "trl-sft":
        return sft(groups, ctx, trl_message)
    if fmt == "openai-sft":
        return ({**r, "parallel_tool_calls": False} for r in sft(groups, ctx, openai_message))
    builders = {
        "trl-dpo": trl_dpo,
        "openai-dpo": openai_dpo,
        "trl-kto": trl_kto,
        "trl-grpo": trl_grpo,
    }
    return builders[fmt](groups, ctx)
