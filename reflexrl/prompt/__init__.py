"""The prompt: the memory rendered into the agent's system prompt.

- `instructions`: the static text (the reward rules and each rendering's note);
- `block`: the memory block's text format, written and read back in this one place;
- `renderers`: the renderings (paper, focused, advice) and the rule of which lookup each
  can show;
- `preview`: what the agent would see for one prompt, with the rows it comes from.

Imports the leaves, `files`, `safety`, `memory`, `rewards` and `envs`; never `models`,
`loop` or anything above them.
"""

from .block import advice_line, advised_actions, is_silent, split_memory
from .instructions import MEMORY_NOTE, NOTES, REWARD_RULES, instructions, static_system
from .preview import PromptMemory, prompt_memory
from .renderers import (
    RENDERINGS,
    Renderer,
    check_rendering,
    get_renderer,
    render_advice,
    render_focused,
    render_paper,
)

__all__ = [
    "MEMORY_NOTE",
    "NOTES",
    "RENDERINGS",
    "REWARD_RULES",
    "PromptMemory",
    "Renderer",
    "advice_line",
    "advised_actions",
    "check_rendering",
    "get_renderer",
    "instructions",
    "is_silent",
    "prompt_memory",
    "render_advice",
    "render_focused",
    "render_paper",
    "split_memory",
    "static_system",
]
