"""Judge calibration: how often a judge's labels agree with a suite's answer key.

Every (prompt, action) of the suite is one decision to label: a tool the key says is valid
is `right_tool`, any other tool `wrong_tool`; a question is `needed_question` on a prompt
that stands in two queries (`Suite.ambiguous_prompts`), else `unneeded_question`. The
report gives the confusion matrix, the agreement per label, Cohen's kappa, the judge's
failures, usage and cost. A judge that trains nothing until it is calibrated is the lesson
of tau-bench's per-turn rewards.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..envs.suite import Suite
from ..errors import BadInputError
from ..records import CLARIFY, Decision, PendingEpisode
from ..rewards.judge import RUBRIC_VERSION, Judge, Label
from ..usage import Usage

__all__ = ["Calibration", "calibrate_judge", "check_agreement", "expected_labels"]

FAILED = "failed"


@dataclass(frozen=True)
class Calibration:
    """A judge's labels against the answer key's, on one suite."""

    suite: str
    judge: str
    confusion: dict[str, dict[str, int]]
    """Expected label -> judged label (or "failed") -> count."""
    usage: Usage
    seconds: float
    rubric: str = RUBRIC_VERSION
    """The rubric the judge labelled under."""

    @property
    def total(self) -> int:
        """Decisions labelled (failures included)."""
        return sum(sum(row.values()) for row in self.confusion.values())

    @property
    def accuracy(self) -> float:
        """Share of decisions the judge labelled as the key does (a failure disagrees)."""
        agreed = sum(row.get(label, 0) for label, row in self.confusion.items())
        return agreed / self.total if self.total else 0.0

    def agreement(self, label: str) -> float | None:
        """Share of the decisions the key labels `label` that the judge labelled so."""
        row = self.confusion.get(label, {})
        return row.get(label, 0) / sum(row.values()) if row else None

    @property
    def kappa(self) -> float:
        """Cohen's kappa: agreement beyond what the two label frequencies give by chance."""
        n = self.total
        if not n:
            return 0.0
        judged: Counter[str] = Counter()
        for row in self.confusion.values():
            judged.update(row)
        pairs = sum(sum(row.values()) * judged[lab] for lab, row in self.confusion.items())
        chance = pairs / (n * n)
        return (self.accuracy - chance) / (1 - chance) if chance < 1 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The `judge calibrate --json` shape."""
        return {
            "suite": self.suite,
            "judge": self.judge,
            "decisions": self.total,
            "accuracy": round(self.accuracy, 4),
            "kappa": round(self.kappa, 4),
            "agreement": {lab: self.agreement(lab) for lab in sorted(self.confusion)},
            "confusion": self.confusion,
            "failures": sum(row.get(FAILED, 0) for row in self.confusion.values()),
            "usage": self.usage.to_json(),
            "seconds": round(self.seconds, 2),
            "rubric": self.rubric,
        }


def expected_labels(suite: Suite) -> Iterator[tuple[PendingEpisode, Label]]:
    """Each (prompt, action) of the suite as a one-decision invocation, with the key's label."""
    ambiguous = suite.ambiguous_prompts()
    actions = [*suite.tool_names, CLARIFY]
    for query, prompt in suite.prompts():
        for action in actions:
            label: Label
            if action == CLARIFY:
                label = "needed_question" if prompt in ambiguous else "unneeded_question"
            else:
                valid = suite.reward_model.is_valid(query, action)
                label = "right_tool" if valid else "wrong_tool"
            decision = Decision(0, prompt, action, {})
            yield PendingEpisode(f"{query}:{action}", suite.name, prompt, (decision,)), label


def calibrate_judge(judge: Judge, suite: Suite, limit: int | None = None) -> Calibration:
    """Label every (prompt, action) of `suite` (the first `limit`) and compare with the key."""
    start, used = time.perf_counter(), judge.usage
    confusion: dict[str, dict[str, int]] = {}
    for i, (episode, expected) in enumerate(expected_labels(suite)):
        if limit is not None and i >= limit:
            break
        judgment = judge.judge(episode, episode.decisions[0])
        got = FAILED if judgment is None else judgment.label
        row = confusion.setdefault(expected, {})
        row[got] = row.get(got, 0) + 1
    spent = judge.usage - used
    return Calibration(suite.name, judge.name, confusion, spent, time.perf_counter() - start)


def check_agreement(judge: str, calibration: Calibration | None, min_kappa: float) -> None:
    """Refuse a judge whose agreement with an answer key is below `min_kappa` (Cohen's), or
    that was not calibrated (under this rubric).

    Args:
        judge: The judge's name (`Judge.name`): the calibration must be of it.
        calibration: Its calibration (`calibrate_judge`), None if there is none.
        min_kappa: The least agreement beyond chance it needs.

    Raises:
        BadInputError: no calibration of this judge under this rubric, or a kappa below
            `min_kappa` (named as the `min_kappa` setting).
    """
    if calibration is None or calibration.judge != judge:
        msg = f"{judge} has no calibration to check (reflexrl.calibrate_judge on a labelled suite)"
        raise BadInputError(msg, setting="min_kappa")
    if calibration.rubric != RUBRIC_VERSION:
        msg = f"{judge} was calibrated under rubric {calibration.rubric}, not {RUBRIC_VERSION}"
        raise BadInputError(msg, setting="min_kappa")
    if calibration.kappa < min_kappa:
        msg = (
            f"{judge} agrees with the answer key of {calibration.suite} at Cohen's kappa "
            f"{calibration.kappa:.2f} over {calibration.total} decisions, below {min_kappa}: "
            "its rewards would teach the memory mostly noise"
        )
        raise BadInputError(msg, setting="min_kappa")
