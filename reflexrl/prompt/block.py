"""The memory block's text format: how a block is framed, quotes its prompt and states its
advice, and how those are read back.

Written by the renderers and read by the local model (which moves the block and drops what
it already read), the metrics (what the agent was advised) and the tests: both directions
live here, so they cannot drift apart. User text is rendered by `safety.text.for_block`
(a JSON string with `<`, `>` and every non-printable character escaped), so a stored prompt
can never close the block, start or forge a line, or read as an instruction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from ..memory import ActionEstimate, Advice
from ..safety.text import for_block

__all__ = [
    "BEST",
    "CLOSE_TAG",
    "OPEN_TAG",
    "REQUEST_LINE",
    "UNTRIED",
    "action_name",
    "advice_line",
    "advised_actions",
    "as_block",
    "is_silent",
    "request_line",
    "signed",
    "split_memory",
    "without_request",
]

OPEN_TAG = "<reflexrl_memory>\n"
"""How every memory block starts (user text inside it has `<` escaped, so the tag can only be
reflexrl's own)."""

CLOSE_TAG = "</reflexrl_memory>"

REQUEST_LINE = "Current user prompt: "
"""How a focused block quotes the prompt it is about (its first line)."""

BEST = "Best action so far: "
UNTRIED = "none has earned a reward yet; try a tool not tried yet: "
KIND_CALL = (
    "Requests like this were served by calling a tool, though not one offered here: "
    "call the offered tool that fits."
)
"""The advice of a kind: similar requests' tools are not this request's own (item suites)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_NAME = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_-]*')
"""An action as `action_name` writes it: an identifier, or a JSON string."""
_VALUE = re.compile(r" \(mean reward [^()]*\)$")


# -- writing ---------------------------------------------------------------------------------


def as_block(lines: Iterable[str]) -> str:
    """`lines` between the block's tags."""
    return "\n".join([OPEN_TAG.strip(), *lines, CLOSE_TAG])


def request_line(prompt: str) -> str:
    """The line that quotes the prompt a block is about."""
    return f"{REQUEST_LINE}{for_block(prompt)}"


def action_name(action: str) -> str:
    """A tool name as is (names are identifiers: easy for a model to copy), anything else quoted."""
    return action if _IDENTIFIER.fullmatch(action) else for_block(action)


def signed(value: float) -> str:
    """A reward as a block shows it: signed, and a plain 0."""
    return f"{value:+g}" if value else "0"


def advice_line(advice: Advice, estimates: Mapping[str, ActionEstimate] | None = None) -> str:
    """The line that states the advice; with `estimates`, the advised action's mean reward
    follows it in brackets."""
    if advice.best is None and advice.kind == "call":
        return KIND_CALL
    if advice.best is None:
        return BEST + UNTRIED + ", ".join(map(action_name, advice.untried))
    line = BEST + action_name(advice.best)
    if estimates is not None:
        value = estimates[advice.best].value if advice.best in estimates else 0.0
        line += f" (mean reward {signed(round(value, 2))})"
    return line


# -- reading ---------------------------------------------------------------------------------


def split_memory(text: str) -> tuple[str, str | None]:
    """A system text split into what comes before its memory block, and the block (or None)."""
    start = text.rfind(OPEN_TAG)
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return text, None
    return text[:start].rstrip(), text[start:]


def is_silent(block: str) -> bool:
    """Whether a block says nothing but the prompt it is about (`render_advice` with nothing
    to advise)."""
    lines = block.splitlines()
    return len(lines) <= 3 and all(not x.strip() or x.startswith(REQUEST_LINE) for x in lines[1:-1])


def without_request(block: str, request: str) -> str:
    """The block without its line quoting `request` (for a reader that has just read the
    request itself)."""
    return block.replace(f"\n{request_line(request)}\n", "\n", 1)


def advised_actions(block: str) -> frozenset[str] | None:
    """The actions a rendered block advised (None: it gave no advice), read from its last
    advice line: what the agent was told, as it was told."""
    line = next((x for x in reversed(block.splitlines()) if x.startswith(BEST)), None)
    if line is None:
        return None
    text = _VALUE.sub("", line.removeprefix(BEST)).removeprefix(UNTRIED)
    return frozenset(_unquote(n) for n in _NAME.findall(text))


def _unquote(name: str) -> str:
    return str(json.loads(name)) if name.startswith('"') else name
