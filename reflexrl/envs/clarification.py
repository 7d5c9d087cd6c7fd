"""The clarification tool every reflexrl agent gets: `ask_user_for_clarification`."""

from __future__ import annotations

from langchain.tools import ToolRuntime, tool
from langgraph.types import interrupt

from ..records import CLARIFY
from .context import current_episode
from .trajectory import current_prompt

__all__ = ["ask_user_for_clarification"]


@tool(CLARIFY)
def ask_user_for_clarification(question: str, runtime: ToolRuntime) -> str:
    """Ask the user what they mean when the request is too ambiguous to pick a tool.

    Args:
        question: The question to put to the user.
    """
    ctx = current_episode(runtime.config)
    if ctx is None:
        # A real person answers: the graph pauses (it needs a checkpointer) and resumes
        # with Command(resume="the user's answer").
        return str(interrupt({"question": question}))
    return ctx.user.answer(question, current_prompt(runtime.state["messages"]) or "")
