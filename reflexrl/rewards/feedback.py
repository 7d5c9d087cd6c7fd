"""Explicit feedback: a score for an agent invocation, late and from anywhere.

Shaped like LangSmith's feedback records (run id, key, score, comment), so one maps onto it
without glue: `Feedback.model_validate(record, from_attributes=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..records import CLARIFY, PendingEpisode

__all__ = ["Feedback"]


class Feedback(BaseModel):
    """A score for one invocation (`run_id`), or for one of its decisions (`step`).

    The score is a reward in [-1, 1]: +1 the agent served the request with the right tool,
    -1 it did not (a boolean: True +1, False -1). Without `step` it rewards the invocation's
    last tool call, the one that answered the request; its questions earn the reward of
    asking (0) and any earlier call is left to the other sources (outcomes). An invocation
    that called no tool (it only asked, until it gave up) gets the score on its last
    question: asking that never led to a tool is what the user scored.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    run_id: str
    score: float = Field(ge=-1.0, le=1.0)
    key: str = Field(default="user_score", min_length=1, max_length=200)
    comment: str | None = Field(default=None, max_length=10_000)
    step: int | None = Field(default=None, ge=0)

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id_text(cls, value: object) -> object:
        return str(value) if isinstance(value, UUID) else value

    @field_validator("score", mode="before")
    @classmethod
    def _bool_score(cls, value: object) -> object:
        if isinstance(value, bool):
            return 1.0 if value else -1.0
        return value

    @property
    def name(self) -> str:
        """The source name a credited invocation records: `feedback:KEY`."""
        return f"feedback:{self.key}"

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """The score for `step`, or for the last tool call, or for the last question when no
        tool was called (nothing when the invocation decided nothing)."""
        if self.step is not None:
            return {self.step: self.score}
        calls = [d.index for d in episode.decisions if d.action != CLARIFY]
        last = calls or [d.index for d in episode.decisions]
        return {last[-1]: self.score} if last else {}
