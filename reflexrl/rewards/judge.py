"""A judge model as a reward source (TARL): a chat model labels each decision of an
invocation from the request, the offered tools and the agent's turns.

Labels: `right_tool`, `wrong_tool` (for a tool call), `needed_question`, `unneeded_question`
(for a clarification); they map to rewards (`LABEL_REWARDS`, configurable). The rubric is
versioned (`RUBRIC_VERSION`) and stored with every judgment; judgments are cached by the
text the judge read, and every call's usage is counted. A reply that breaks the schema is a
judge failure: logged, counted, and it credits nothing.

The labelling itself is a `Labeler`: `ChatLabeler` for any LangChain chat model (JSON schema
structured output), `reflexrl.models.local.judge.LocalLabeler` for the embedded models.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import JudgeError
from ..records import CLARIFY, Decision, PendingEpisode
from ..safety.text import for_block
from ..usage import FREE, Price, Usage, message_usage

__all__ = [
    "LABEL_REWARDS",
    "RUBRIC",
    "RUBRIC_VERSION",
    "ChatLabeler",
    "Judge",
    "Judgment",
    "Label",
    "Labeler",
    "judge_prompt",
    "judgment_schema",
]

log = logging.getLogger(__name__)

Label = Literal["right_tool", "wrong_tool", "needed_question", "unneeded_question"]
TOOL_LABELS: tuple[Label, ...] = ("right_tool", "wrong_tool")
QUESTION_LABELS: tuple[Label, ...] = ("needed_question", "unneeded_question")

LABEL_REWARDS: Mapping[Label, float] = {
    "right_tool": 1.0,
    "wrong_tool": -1.0,
    "needed_question": 0.0,
    "unneeded_question": 0.0,
}
"""The paper's rewards: +1 the right tool, -1 a wrong one, 0 for asking (needed or not: a
question costs a turn, not a wrong action). Pass your own to `Judge(label_rewards=...)`."""

RUBRIC_VERSION = "judge-v1"
RUBRIC = """You grade one decision of an assistant that serves a user's request by calling one
of the tools it is offered, or by asking the user a clarifying question.
Label the decision with exactly one label:
- right_tool: it called a tool that serves the request as stated;
- wrong_tool: it called a tool that does not serve the request;
- needed_question: it asked, and the request is ambiguous between the offered tools;
- unneeded_question: it asked, but one offered tool clearly serves the request.
A tool call is right_tool or wrong_tool; a question is needed_question or
unneeded_question. Reply with JSON: {"label": "...", "reason": "one short sentence"}."""


class Judgment(BaseModel):
    """One label for one decision, as the judge's JSON reply gives it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    label: Label
    reason: str = Field(default="", max_length=2000)


def judgment_schema(allowed: Sequence[Label]) -> dict[str, Any]:
    """`Judgment` as a strict JSON schema whose labels are those that apply to the decision
    (every property required, no others): the form OpenAI's structured outputs and
    llama.cpp's server both enforce."""
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(allowed)},
            "reason": {"type": "string"},
        },
        "required": ["label", "reason"],
        "additionalProperties": False,
    }


class Labeler(Protocol):
    """Labels one decision from the judge's prompt; returns the judgment and its usage."""

    def label(self, system: str, prompt: str, allowed: Sequence[Label]) -> tuple[Judgment, Usage]:
        """The judgment of the decision `prompt` describes (one of `allowed`)."""
        ...


def judge_prompt(episode: PendingEpisode, tools: Mapping[str, str], decision: Decision) -> str:
    """What the judge reads about one decision: the request, the offered tools with their
    descriptions, the turns before it, and the decision. User text is quoted inert."""
    lines = [f"User request: {for_block(episode.prompt)}", "Offered tools:"]
    lines += [f"- {name}: {for_block(text)}" for name, text in tools.items()]
    lines.append(f"- {CLARIFY}: ask the user a clarifying question")
    for earlier in episode.decisions[: decision.index]:
        lines.append(f"Assistant earlier: {_said(earlier)}")
        if earlier.action == CLARIFY and earlier.index + 1 < len(episode.decisions):
            nxt = episode.decisions[earlier.index + 1]
            lines.append(f"User answered: {for_block(nxt.prompt)}")
    lines.append(f"Decision to grade: {_said(decision)}")
    return "\n".join(lines)


def _said(decision: Decision) -> str:
    if decision.action == CLARIFY:
        return "asked the user a clarifying question"
    return f"called {decision.action}"


@dataclass
class ChatLabeler:
    """Any LangChain chat model as a labeler. With an OpenAI-compatible model (hosted, or a
    local server such as llama.cpp's) the reply is constrained by the JSON schema
    (`response_format`); any other model is asked for the same JSON in the rubric and its
    reply parsed."""

    model: BaseChatModel

    def label(self, system: str, prompt: str, allowed: Sequence[Label]) -> tuple[Judgment, Usage]:
        """One call; the reply's JSON is the judgment."""
        messages = [SystemMessage(system), HumanMessage(prompt)]
        reply = self._bound(allowed).invoke(messages)
        usage = message_usage(reply)
        try:
            judgment = Judgment.model_validate(_json_of(reply.text))
        except (ValueError, ValidationError) as exc:
            msg = f"the reply is not a judgment: {reply.text[:200]!r}"
            raise JudgeError(msg, usage=usage) from exc
        if judgment.label not in allowed:
            msg = f"label {judgment.label!r} does not apply (one of {allowed})"
            raise JudgeError(msg, usage=usage)
        return judgment, usage

    def _bound(self, allowed: Sequence[Label]) -> Any:
        if type(self.model).__name__ in ("ChatOpenAI", "AzureChatOpenAI"):
            schema = {"name": "judgment", "schema": judgment_schema(allowed), "strict": True}
            return self.model.bind(response_format={"type": "json_schema", "json_schema": schema})
        return self.model


def _json_of(text: str) -> Any:
    """The first JSON object in a reply (models wrap it in prose or code fences)."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        raise ValueError("no JSON object")
    return json.loads(match.group(0))


@dataclass
class Judge:
    """A judge model as a `RewardSource`: each decision's label, mapped to a reward.

    Args:
        labeler: Who labels (`ChatLabeler(model)`, or a local model's labeler).
        tools: The offered tools' names and descriptions (what the judge reads).
        label_rewards: Reward per label.
        name: Recorded with each invocation it credits.
    """

    labeler: Labeler
    tools: Mapping[str, str]
    label_rewards: Mapping[Label, float] = field(default_factory=lambda: dict(LABEL_REWARDS))
    name: str = "judge"
    price: Price | None = FREE
    """USD per token of the judge's model (None: unknown, so the cost is unknown)."""
    usage: Usage = field(default_factory=Usage)
    failures: int = 0
    judgments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cached judgments by the sha256 of the rubric version and the prompt the judge read;
    each one records the rubric version it was made under."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def judge(self, episode: PendingEpisode, decision: Decision) -> Judgment | None:
        """The label of one decision (cached), or None when the judge failed (counted)."""
        return self._judged(episode, decision)[0]

    def _judged(self, episode: PendingEpisode, decision: Decision) -> tuple[Judgment | None, Usage]:
        """The label of one decision (None: the judge failed) and what its call used
        (nothing when the judgment was cached)."""
        prompt = judge_prompt(episode, self.tools, decision)
        key = hashlib.sha256(f"{RUBRIC_VERSION}\n{prompt}".encode()).hexdigest()
        with self._lock:
            if key in self.judgments:
                return Judgment.model_validate(self.judgments[key]), Usage()
        allowed = QUESTION_LABELS if decision.action == CLARIFY else TOOL_LABELS
        try:
            judgment, used = self.labeler.label(RUBRIC, prompt, allowed)
        except JudgeError as exc:
            spent = self._count(exc.usage or Usage(calls=1))
            with self._lock:
                self.failures += 1
            log.warning(
                "judge failure on decision %d of %s: %s", decision.index, episode.run_id, exc
            )
            return None, spent
        spent = self._count(used)
        with self._lock:
            self.judgments[key] = {**judgment.model_dump(), "rubric": RUBRIC_VERSION}
        return judgment, spent

    def _count(self, used: Usage) -> Usage:
        """Add one call's usage, priced (a failed call is paid for too); return it priced."""
        used = replace(used, cost=None if self.price is None else self.price.cost(used))
        with self._lock:
            self.usage = self.usage + used
        return used

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """The reward of each decision the judge labelled."""
        return self.assess(episode)[0]

    def assess(self, episode: PendingEpisode) -> tuple[dict[int, float], Usage]:
        """The reward of each decision the judge labelled, and what judging them used."""
        found: dict[int, float] = {}
        spent = Usage()
        for decision in episode.decisions:
            judgment, used = self._judged(episode, decision)
            spent = spent + used
            if judgment is not None:
                found[decision.index] = float(self.label_rewards[judgment.label])
        return found, spent
