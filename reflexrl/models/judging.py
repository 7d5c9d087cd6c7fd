"""Judges from model specs: `local:NAME` labels by likelihood, any other spec through its
chat model's structured output (`reflexrl.rewards.judge`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

from ..rewards.judge import ChatLabeler, Judge, Labeler
from ..usage import price_for
from .specs import load_model

__all__ = ["load_judge", "tool_descriptions"]


def tool_descriptions(tools: Sequence[Any]) -> dict[str, str]:
    """Name -> first line of the description, for LangChain tools (what a judge reads)."""
    return {t.name: (t.description or "").strip().split("\n")[0] for t in tools}


def load_judge(model: str | BaseChatModel, tools: Mapping[str, str], **kwargs: Any) -> Judge:
    """A judge of decisions among `tools` (name -> description).

    Args:
        model: A model spec (`local:smollm2` for the no-key path, `openai:gpt-4.1-mini`, or
            any spec `load_model` takes) or a LangChain chat model.
        tools: The offered tools' names and descriptions.
        **kwargs: For a spec, passed to `load_model` (`base_url=` for an OpenAI-compatible
            server, such as llama.cpp's).

    Raises:
        ModelSpecError: an unknown or unavailable spec.
    """
    labeler: Labeler
    if isinstance(model, BaseChatModel):
        labeler, name = ChatLabeler(model), "judge"
    elif model.startswith("local:"):
        from .local.judge import LocalLabeler  # noqa: PLC0415  (needs numpy and llama.cpp)

        labeler, name = LocalLabeler(model.partition(":")[2]), f"judge:{model}"
    else:
        labeler, name = ChatLabeler(load_model(model, **kwargs)), f"judge:{model}"
    price = price_for(model) if isinstance(model, str) else None
    return Judge(labeler, dict(tools), name=name, price=price)
