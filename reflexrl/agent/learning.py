"""Learning outside training (`learn=True`): each agent invocation logged as pending.

The middleware tags each model response with the memory block the call saw; when the
invocation ends, its decisions (every tool call after the request, with its arguments, the
prompt being handled and that block) are logged in the memory store, keyed by the run id,
with the rewards its outcomes and judge already give (`Learning`). Feedback credits it later,
from any process (`reflexrl.feedback`), or, without waiting, they are credited at once.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import get_args

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from ..envs.trajectory import is_user_turn, request_turn
from ..errors import BadInputError
from ..loop.calibrate import Calibration, check_agreement
from ..memory import Exploration, PendingLog
from ..records import INVALID_CALL, Decision, PendingEpisode
from ..rewards.online import credit_proposed
from ..rewards.sources import Outcomes, RewardSource, combine

__all__ = [
    "BLOCK_KEY",
    "Learner",
    "Learning",
    "as_learning",
    "decisions_of",
    "wait_for_judges",
]

log = logging.getLogger(__name__)

BLOCK_KEY = "reflexrl_block"
"""Where a model response keeps the memory block its call saw (`response_metadata`)."""


def decisions_of(messages: Sequence[BaseMessage]) -> tuple[str, tuple[Decision, ...]]:
    """The request of the invocation that ended with `messages` (its last human message)
    and the decisions taken since: each tool call, on the prompt being handled then."""
    turn = request_turn(messages)
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
        judge: A judge model that labels each decision once the invocation is logged
            (`reflexrl.load_judge`); under the outcomes in precedence.
        judge_in_background: Judge in a background thread, so that no answer waits for the
            judge: its rewards join the logged invocation when they come (feedback that
            arrives first credits it without them). False: judge before the invocation
            returns. `reflexrl.wait_for_judges()` waits for the judgments still running
            (call it before closing the memory). A SQLite memory in ":memory:" can only be
            written by the thread that opened it: judge in line there.
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
        explore: How a request the memory holds, on which a tool failed and none earned a
            reward, is advised: "ask" the user (a tool tried on a real user is an action
            taken for them), or "try" a tool it never tried, as training does
            (`reflexrl.memory.advice`).
        min_kappa: Refuse a `judge` whose `calibration` (`reflexrl.calibrate_judge` on a
            labelled suite) agrees with its answer key below this Cohen's kappa, or that has
            none. None: no check.
        calibration: The judge's calibration, for `min_kappa`.

    Raises:
        BadInputError: `min_kappa` without a judge, or a judge it refuses; a negative
            `min_evidence`; an unknown `explore`.
    """

    outcomes: Outcomes = field(default_factory=Outcomes)
    judge: RewardSource | None = None
    judge_in_background: bool = True
    wait_for_feedback: bool = True
    expire_after: timedelta = timedelta(days=7)
    shadow: bool = False
    min_evidence: int = 0
    explore: Exploration = "ask"
    min_kappa: float | None = None
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        if self.min_evidence < 0:
            raise BadInputError("must be at least 0", setting="min_evidence")
        if self.explore not in get_args(Exploration):
            raise BadInputError(f"must be 'ask' or 'try', not {self.explore!r}", setting="explore")
        if self.min_kappa is None:
            return
        if self.judge is None:
            raise BadInputError("there is no judge to check", setting="min_kappa")
        check_agreement(self.judge.name, self.calibration, self.min_kappa)

    @property
    def sources(self) -> list[RewardSource]:
        """The sources known when an invocation is logged, in precedence order."""
        if self.judge is None or self.judge_in_background:
            return [self.outcomes]
        return [self.outcomes, self.judge]


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
        if self.settings.judge is not None and self.settings.judge_in_background:
            if logged.decisions:
                _JUDGING.submit(self._judge, logged)
        else:
            self._credit_now(logged)
        return logged

    def _judge(self, logged: PendingEpisode) -> None:
        """Add the judge's rewards to a logged invocation (in the background)."""
        assert self.settings.judge is not None
        found = combine([self.settings.judge], logged)
        if found:
            rewards = {i: r for i, (r, _) in found.items()}
            logged = self.memory.propose_pending(logged.run_id, rewards)
        self._credit_now(logged)

    def _credit_now(self, logged: PendingEpisode) -> None:
        if not self.settings.wait_for_feedback and logged.proposed:
            credit_proposed(self.memory, logged)


class _Background:
    """The thread that judges logged invocations, one at a time: a local judge model is not
    safe to call from two threads, and a hosted one is rate-limited anyway. Work still
    queued when the interpreter exits is finished first (`concurrent.futures`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self.running: set[Future[None]] = set()

    def submit(self, job: Callable[[PendingEpisode], None], logged: PendingEpisode) -> None:
        with self.lock:
            if self.executor is None:
                self.executor = ThreadPoolExecutor(1, thread_name_prefix="reflexrl-judge")
            future = self.executor.submit(job, logged)
            self.running.add(future)
        future.add_done_callback(lambda done: self._done(done, logged.run_id))

    def _done(self, future: Future[None], run_id: str) -> None:
        with self.lock:
            self.running.discard(future)
        if future.exception() is not None:  # the invocation stays pending, with its outcomes
            log.error("judging invocation %s failed", run_id, exc_info=future.exception())

    def wait(self, timeout: float | None) -> bool:
        with self.lock:
            running = set(self.running)
        return not wait(running, timeout).not_done


_JUDGING = _Background()


def wait_for_judges(timeout: float | None = None) -> bool:
    """Wait until the judge has answered for every invocation logged so far (with
    `Learning(judge=..., judge_in_background=True)`). Whether it has, within `timeout`
    seconds (None: however long it takes)."""
    return _JUDGING.wait(timeout)


def as_learning(learn: bool | Learning) -> Learning | None:
    """`learn=` of the middleware and `wrap`: False, True (the defaults) or settings."""
    if isinstance(learn, Learning):
        return learn
    return Learning() if learn else None
