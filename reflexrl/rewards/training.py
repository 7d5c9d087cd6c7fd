"""Training rewards other than the answer key: a judge's, or the key's with noise.

`train` scores each episode with the suite's answer key: it decides when the request was
served (the episode ends) and what the frozen evaluation measures. What the memory is
credited with can come from elsewhere (`RunConfig.reward`): the key itself (`key`, the
default), a judge model's labels (`judge:SPEC`, TARL), or the key as imperfect feedback
(`feedback-noise:MISSING,FLIPPED`: a share of the rewards never arrives, a share is
flipped), to measure how learning degrades when rewards are imperfect.

A reward that never arrived (noise, or a decision the judge failed on) credits nothing:
that step is left out of the episode's steps, which are the rewards it credits (its
messages keep every action).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from ..errors import BadInputError
from ..records import Decision, Episode, PendingEpisode
from ..usage import Usage
from .judge import Judge

__all__ = [
    "JudgedRewards",
    "NoisyKey",
    "TrainingReward",
    "check_reward_spec",
    "relabelled",
    "training_reward",
]

KEY = "key"


@runtime_checkable
class TrainingReward(Protocol):
    """Re-scores a training episode the key scored: the episode the memory is credited
    with."""

    async def relabel(self, episode: Episode) -> Episode:
        """`episode` with this source's rewards (a step without one is left out) and what
        scoring it used added to its usage."""
        ...


def relabelled(
    episode: Episode, rewards: Mapping[int, float], used: Usage | None = None
) -> Episode:
    """`episode` with a step per reward in `rewards` (by step index), carrying it, and
    `used` added to its usage."""
    steps = tuple(replace(s, reward=rewards[s.index]) for s in episode.steps if s.index in rewards)
    return replace(episode, steps=steps, usage=episode.usage + (used or Usage()))


@dataclass(frozen=True)
class NoisyKey:
    """The key's rewards as imperfect feedback: each is missing with probability `missing`,
    else flipped (negated: asking's 0 stays 0) with probability `flipped`. The draws are
    seeded by the run's seed, the episode and the step, so a resumed run draws the same."""

    missing: float
    flipped: float
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.missing <= 1 and 0 <= self.flipped <= 1):
            raise BadInputError("shares must be between 0 and 1", setting="reward")
        if self.missing + self.flipped > 1:
            raise BadInputError("missing + flipped is more than 1", setting="reward")

    async def relabel(self, episode: Episode) -> Episode:
        """The key's rewards, each dropped or flipped by its own draw."""
        rewards: dict[int, float] = {}
        for step in episode.steps:
            draw = random.Random(f"noise:{self.seed}:{episode.index}:{step.index}").random()
            if draw >= self.missing:
                flip = draw < self.missing + self.flipped
                rewards[step.index] = -step.reward if flip else step.reward
        return relabelled(episode, rewards)


@dataclass(frozen=True)
class JudgedRewards:
    """A judge model's rewards: it labels each step from the request, the offered tools
    and the turns before it (`reflexrl.rewards.judge`); its calls are counted in the
    episode's usage."""

    judge: Judge

    async def relabel(self, episode: Episode) -> Episode:
        """The judge's reward for each step it labelled (a failure credits nothing)."""
        rewards, used = await asyncio.to_thread(self.judge.assess, as_invocation(episode))
        return relabelled(episode, rewards, used)


def as_invocation(episode: Episode) -> PendingEpisode:
    """A training episode in the form a reward source reads: its request and decisions."""
    decisions = tuple(Decision(s.index, s.prompt, s.action, s.args) for s in episode.steps)
    run_id = f"{episode.run_id}:{episode.index}"
    return PendingEpisode(run_id, episode.suite, episode.prompt, decisions)


def check_reward_spec(spec: str) -> None:
    """Refuse a reward spec that is not `key`, `judge:MODEL` or
    `feedback-noise:MISSING,FLIPPED`.

    Raises:
        BadInputError: the spec, named as the `reward` setting.
    """
    kind, _, rest = spec.partition(":")
    if spec == KEY or (kind == "judge" and rest):
        return
    if kind == "feedback-noise":
        _noise_shares(rest)
        return
    msg = f"unknown reward '{spec}' (key, judge:MODEL or feedback-noise:MISSING,FLIPPED)"
    raise BadInputError(msg, setting="reward")


def _noise_shares(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        missing, flipped = (float(p) for p in parts)
    except ValueError:
        msg = f"feedback-noise:{text}: expected two shares, MISSING,FLIPPED (0.3,0.1)"
        raise BadInputError(msg, setting="reward") from None
    NoisyKey(missing, flipped)  # checks the shares
    return missing, flipped


def training_reward(spec: str, seed: int = 0, judge: Judge | None = None) -> TrainingReward | None:
    """The reward a `RunConfig.reward` spec names (None: the key's own).

    Args:
        spec: `key`, `judge:MODEL` or `feedback-noise:MISSING,FLIPPED`.
        seed: Seeds the noise.
        judge: The judge a `judge:` spec names, loaded (`reflexrl.load_judge`).

    Raises:
        BadInputError: a bad spec, or a `judge:` spec without its judge.
    """
    check_reward_spec(spec)
    kind, _, rest = spec.partition(":")
    if kind == "feedback-noise":
        return NoisyKey(*_noise_shares(rest), seed=seed)
    if kind == "judge":
        if judge is None:
            msg = f"'{spec}' needs its judge: load it with reflexrl.load_judge and pass it"
            raise BadInputError(msg, setting="reward")
        return JudgedRewards(judge)
    return None
