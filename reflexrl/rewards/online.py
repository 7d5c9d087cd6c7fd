"""Crediting invocations outside training: feedback, outcomes and judge, expiry.

An agent with `learn=True` logs each invocation as pending (`PendingLog.log_pending`), with
the rewards its outcomes and judge already gave (`proposed`). Nothing is credited until a
reward arrives: `give_feedback` credits it with the feedback first and the proposed rewards
under it, in the one atomic episode write, exactly once whatever the retries or the
processes. An invocation no feedback reached in time (`expires_at`) is credited with its
proposed rewards alone, or, with none, marked expired: counted (`pending_counts`), never
silently dropped. `credit_proposed` credits them without waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from ..errors import FeedbackError
from ..memory.pending import learn_run_id
from ..memory.protocols import PendingLog
from ..records import CLARIFY, KNOWN_REWARDS, Episode, PendingEpisode, Step
from .feedback import Feedback
from .sources import combine

__all__ = [
    "Credited",
    "Proposed",
    "credit_proposed",
    "episode_of",
    "expire_due",
    "feedback",
    "give_feedback",
]

EXPIRY = "expiry"
"""What `settled_by` says of an invocation credited (or expired) when its time ran out."""
ENDED = "end-of-invocation"
"""What `settled_by` says of an invocation credited when it ended (no feedback awaited)."""


@dataclass(frozen=True)
class Proposed:
    """The rewards logged with an invocation (its outcomes and judge), as a source."""

    name: str = "proposed"

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        """The rewards proposed when the invocation was logged."""
        return episode.proposed


@dataclass(frozen=True)
class Credited:
    """What a feedback did: credited the invocation now, or nothing (it already was)."""

    run_id: str
    credited: bool
    settled_by: str
    rewards: Mapping[int, float]
    """The rewards credited, by decision index (empty when nothing was credited now)."""


def episode_of(pending: PendingEpisode, rewards: Mapping[int, tuple[float, str]]) -> Episode:
    """The episode an invocation credits: one step per rewarded decision; a question no
    source rewarded earns the known reward of asking; other decisions are left out.

    Every step is credited to the request that started the invocation, as `train` credits
    by default (`credit="origin"`): a tool called after the user answered a question served
    that request, and the request learns the tool its question led to. Learning online from
    noisy feedback (seeds 0-2, evals/reports/online-choice/ask-to-explore/), crediting the
    request instead of the answer took assistant's last-pass gain over memory off from -7.1
    to +4.8 points (+3.0 to +17.3 when exploring by asking); paper's went from +25.6 to
    +24.4 (+43.3 to +32.2).

    A tool call after the answer credits the answer too (`Step.also_prompt`): the user said
    what they wanted in it, and an answer like it, or the same words as a request of their
    own, then finds the tool. Questions credit the request alone. With noisy feedback the
    last pass's gain went from +17.2 (worst +5) to +27.2 (+21) points on assistant and from
    +37.6 (+30) to +47.7 (+33) on paper (seeds 0-9, evals/reports/online-choice/
    credit-answer/; there the simulated user answers with another wording of the whole
    request, so the answer is a request the memory sees again)."""
    steps = []
    for d in pending.decisions:
        if d.index in rewards:
            reward = rewards[d.index][0]
        elif d.action in KNOWN_REWARDS:
            reward = KNOWN_REWARDS[d.action]
        else:
            continue
        tool = d.action != CLARIFY
        valid = reward > 0 and tool
        steps.append(Step(d.index, d.prompt, d.action, d.args, reward, valid, pending.prompt, tool))
    return Episode(
        run_id=learn_run_id(pending.suite),
        index=pending.number,
        epoch=0,
        suite=pending.suite,
        query="",
        prompt=pending.prompt,
        explored=False,
        outcome="valid" if any(s.valid for s in steps) else "answered",
        steps=tuple(steps),
        memory_blocks=tuple(d.block for d in pending.decisions if d.block is not None),
    )


def feedback(
    store: PendingLog,
    run_id: str,
    score: float | bool,
    *,
    step: int | None = None,
    key: str = "user_score",
    comment: str | None = None,
) -> Credited:
    """Credit the invocation `run_id` with a score in [-1, 1] (see `Feedback`).

    Raises:
        FeedbackError: a field out of range (named), or see `give_feedback`.
    """
    fields = {"run_id": run_id, "score": score, "step": step, "key": key, "comment": comment}
    try:
        given = Feedback.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else None
        raise FeedbackError(error["msg"], setting=name) from exc
    return give_feedback(store, given)


def give_feedback(store: PendingLog, feedback: Feedback) -> Credited:
    """Credit the invocation `feedback.run_id` with the feedback, its proposed rewards
    (outcomes, judge) under it.

    The same feedback twice (a retry, another process) credits once: the second finds the
    invocation credited and credits nothing. So does any feedback after the first.

    Raises:
        FeedbackError: the run id was never logged in `store`, it expired before the
            feedback came, or `step` names no decision of it.
    """
    expire_due(store)
    pending = store.pending_episode(feedback.run_id)
    if pending is None:
        msg = f"no invocation {feedback.run_id!r} was logged in this memory"
        raise FeedbackError(msg)
    _check_open(pending, feedback)
    rewards = combine([feedback, Proposed()], pending)
    episode = episode_of(pending, rewards)
    before = store.settle_pending(pending.run_id, episode, feedback.name, feedback.comment)
    if before.status != "pending":  # settled by another writer since it was read
        _check_open(before, feedback)
        return Credited(before.run_id, False, before.settled_by or "", {})
    return Credited(pending.run_id, True, feedback.name, {i: r for i, (r, _) in rewards.items()})


def _check_open(pending: PendingEpisode, feedback: Feedback) -> None:
    if pending.status == "expired":
        msg = f"invocation {pending.run_id!r} expired at {pending.expires_at} without a reward"
        raise FeedbackError(msg)
    indices = {d.index for d in pending.decisions}
    if feedback.step is not None and feedback.step not in indices:
        msg = f"invocation {pending.run_id!r} has no decision {feedback.step}"
        raise FeedbackError(f"{msg} (it has {len(indices)})", setting="step")


def credit_proposed(store: PendingLog, pending: PendingEpisode) -> bool:
    """Credit an invocation with the rewards logged with it (outcomes, judge), now, without
    waiting for feedback. Whether this call credited it."""
    rewards = combine([Proposed()], pending)
    before = store.settle_pending(pending.run_id, episode_of(pending, rewards), ENDED)
    return before.status == "pending"


def expire_due(store: PendingLog, at: datetime | None = None) -> Mapping[str, int]:
    """Settle every invocation whose time ran out by `at` (default: now): credited with its
    outcomes when it has some, else marked expired. Returns how many of each."""
    when = (at or datetime.now(UTC)).isoformat(timespec="milliseconds")
    done: dict[str, int] = {"credited": 0, "expired": 0}
    for pending in store.due_pending(when):
        rewards = combine([Proposed()], pending)
        episode = episode_of(pending, rewards) if rewards else None
        before = store.settle_pending(pending.run_id, episode, EXPIRY)
        if before.status == "pending":
            done["credited" if episode else "expired"] += 1
    return done
