"""`LocalLabeler`: an embedded llama.cpp model as a judge, choosing a label by likelihood.

A 135M-270M model does not write reliable JSON, so the structured output is the choice
itself: each applicable label (right/wrong tool, needed/unneeded question) is scored by its
log-likelihood after the judge's text, calibrated against the same text without the
request (as `LocalChatModel.decide` calibrates actions). The label set is the schema's enum.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...rewards.judge import Judgment, Label
from ...usage import Usage
from .chat import load_scorer
from .registry import model_info

__all__ = ["LocalLabeler"]

WORDS: dict[Label, str] = {
    "right_tool": " right",
    "wrong_tool": " wrong",
    "needed_question": " needed",
    "unneeded_question": " unneeded",
}
TEMPLATE = "{system}\n\n{prompt}\nVerdict (right or wrong tool; needed or unneeded question):"


class LocalLabeler:
    """A `local:<name>` model's labels: the calibrated most likely applicable label."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.info = model_info(model_name)
        load_scorer(self.info)  # verifies and loads the file now: errors before any judging

    def label(self, system: str, prompt: str, allowed: Sequence[Label]) -> tuple[Judgment, Usage]:
        """The applicable label whose word rises most over its likelihood without the
        request; no tokens are billed (a local model is free)."""
        scorer = load_scorer(self.info)
        words = [WORDS[label] for label in allowed]
        raw = scorer.score(TEMPLATE.format(system=system, prompt=prompt), words)
        bare = _without_request(prompt)
        base = scorer.score(TEMPLATE.format(system=system, prompt=bare), words)
        best = max(allowed, key=lambda lab: raw[WORDS[lab]] - base[WORDS[lab]])
        margin = raw[WORDS[best]] - base[WORDS[best]]
        return Judgment(label=best, reason=f"calibrated log-likelihood {margin:+.2f}"), Usage(
            calls=1, cost=0.0
        )


def _without_request(prompt: str) -> str:
    first, _, rest = prompt.partition("\n")
    return "User request:\n" + rest if first.startswith("User request:") else prompt
