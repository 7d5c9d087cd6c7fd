"""Learning outside training (`learn=True`): each agent invocation logged as pending.

The middleware tags each model response with the memory block the call saw; when the
invocation ends, its decisions (every tool call after the request, with its arguments, the
prompt being handled and that block) are logged in the memory store, keyed by the run id,
with the rewards its outcomes and judge already give (`Learning`). Feedback credits it later,
from any process (`reflexrl.feedback`), or, without waiting, they are credited at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from ..envs.trajectory import is_user_turn
from ..errors import BadInputError
from ..loop.calibrate import Calibration, check_agreement
from ..memory import PendingLog
from ..records import INVALID_CALL, Decision, PendingEpisode
from ..rewards.online import credit_proposed
from ..rewards.sources import Outcomes, RewardSource, combine

__all__ = ["BLOCK_KEY", "Learner", "Learning", "as_learning", "decisions_of"]

BLOCK_KEY = "reflexrl_block"
"""Where a model response keeps the memory block its call saw (`response_metadata`)."""


def decisions_of(messages: Sequence[BaseMessage]) -> tuple[str, tuple[Decision, ...]]:
    """The request of the invocation that ended with `messages` (its last human message)
    and the decisions taken since: each tool call, on the prompt being handled then."""
    start = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    turn = messages[start:]
    request = turn[0].text if turn else ""
    results = {m.tool_call_id: m for m in turn if isinstance(m, ToolMessage)}
    prompt = request
    decisions: list[Decision] = []
    for message in turn[1:]:
        if is_user_turn(message):
            prompt = message.text
        if not isinstance(message, AIMessage):
            continue
        block = message.response_metadata.get(BLOCK_KEY)
        for call in message.tool_calls:
            result = results.get(call.get("id") or "")
            failed = result is not None and result.status == "error"
            decisions.append(
                Decision(len(decisions), prompt, call["name"], call["args"], block, failed)
            )
        for _ in message.invalid_tool_calls:
            decisions.append(Decision(len(decisions), prompt, INVALID_CALL, {}, block, True))
    return request, tuple(decisions)


@dataclass(frozen=True)
class Learning:
    """How an agent learns outside training (`ReflexMiddleware(learn=Learning(...))`).

    Args:
        outcomes: The rewards known when an invocation ends (a failed tool call: -1).
        judge: A judge model that labels each decision when the invocation ends
            (`reflexrl.load_judge`); under the outcomes in precedence.
        wait_for_feedback: Credit an invocation when its feedback arrives (the feedback
            first, then outcomes and judge), or, if none comes within `expire_after`, with
            the outcomes and the judge alone. False: credit them as soon as the invocation
            ends (feedback that comes later credits nothing).
        expire_after: How long an invocation waits for feedback.
        shadow: Learn and log the block each model call would read, but show the model no
            memory (`ReflexMiddleware` only); `reflexrl.agent.shadow.shadow_report` (or
            `reflexrl memory shadow`) tells how often that advice matched what was rewarded.
        min_evidence: Inject no advice that rests on fewer credited rewards than this (the
            prompt's own, or its neighbours'): the block stays silent until the memory has
            seen enough. 0: any.
        min_kappa: Refuse a `judge` whose `calibration` (`reflexrl.calibrate_judge` on a
            labelled suite) agrees with its answer key below this Cohen's kappa, or that has
            none. None: no check.
        calibration: The judge's calibration, for `min_kappa`.

    Raises:
        BadInputError: `min_kappa` without a judge, or a judge it refuses; a negative
            `min_evidence`.
    """

    outcomes: Outcomes = field(default_factory=Outcomes)
    judge: RewardSource | None = None
    wait_for_feedback: bool = True
    expire_after: timedelta = timedelta(days=7)
    shadow: bool = False
    min_evidence: int = 0
    min_kappa: float | None = None
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        if self.min_evidence < 0:
            raise BadInputError("must be at least 0", setting="min_evidence")
        if self.min_kappa is None:
            return
        if self.judge is None:
            raise BadInputError("there is no judge to check", setting="min_kappa")
        check_agreement(self.judge.name, self.calibration, self.min_kappa)

    @property
    def sources(self) -> list[RewardSource]:
        """The sources known when an invocation ends, in precedence order."""
        return [self.outcomes] if self.judge is None else [self.outcomes, self.judge]


@dataclass(frozen=True)
class Learner:
    """Logs the invocations of an agent that learns outside training.

    Args:
        memory: Where they wait for their reward (the agent's memory store).
        suite: The memory namespace they are credited to.
        settings: Where rewards come from, and when they are credited.
    """

    memory: PendingLog
    suite: str = "default"
    settings: Learning = field(default_factory=Learning)

    def log(
        self, messages: Sequence[BaseMessage], run_id: str | None, thread_id: str | None = None
    ) -> PendingEpisode:
        """Log the invocation that ended with `messages` (no `run_id`: a new one), with the
        rewards its outcomes and judge give; credit them now unless it waits for feedback."""
        request, decisions = decisions_of(messages)
        created = datetime.now(UTC)
        episode = PendingEpisode(
            run_id=run_id or str(uuid.uuid4()),
            suite=self.suite,
            prompt=request,
            decisions=decisions,
            thread_id=thread_id,
            created_at=created.isoformat(timespec="milliseconds"),
            expires_at=(created + self.settings.expire_after).isoformat(timespec="milliseconds"),
        )
        found = combine(self.settings.sources, episode)
        logged = self.memory.log_pending(
            replace(episode, proposed={i: r for i, (r, _) in found.items()})
        )
        if not self.settings.wait_for_feedback and logged.proposed:
            credit_proposed(self.memory, logged)
        return logged


def as_learning(learn: bool | Learning) -> Learning | None:
    """`learn=` of the middleware and `wrap`: False, True (the defaults) or settings."""
    if isinstance(learn, Learning):
        return learn
    return Learning() if learn else None
