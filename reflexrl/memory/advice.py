"""What a memory block advises: a tool that earned a reward, else the tools not tried yet.

Optimism under uncertainty: a tool never tried for a prompt might be the valid one, so it
ranks above every action whose record is not positive, asking included. Without it, a prompt
whose one tried tool earned -1 advises asking (0) forever, and nobody ever tries the tool
that serves it. Once every tool was tried, the best record wins, asking counting 0.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from ..records import CLARIFY
from .lookup import ActionEstimate, best_estimated, estimate, own_row
from .protocols import Neighbour


@dataclass(frozen=True)
class Advice:
    """The best action of a record (`best`), or, when no tool has earned a positive reward
    and some were never tried, those tools (`untried`, `best` None)."""

    best: str | None
    untried: tuple[str, ...] = ()

    @property
    def actions(self) -> frozenset[str]:
        """The actions following this advice means taking."""
        return frozenset(self.untried) if self.best is None else frozenset({self.best})


def advise(
    estimates: Mapping[str, ActionEstimate],
    tools: Sequence[str] = (),
    tried: Collection[str] | None = None,
) -> Advice:
    """The advice of per-action estimates (a row's means, or a kNN estimate).

    Args:
        estimates: Estimated reward per action tried (for the prompt or its neighbours).
        tools: Every tool the agent can call (may include asking, which is never "untried":
            its reward is known). Empty: unknown, so nothing is untried and the advice is the
            best record, asking counting 0.
        tried: The actions the prompt itself has tried, when it is stored (None: those with
            an estimate). A tool that only similar prompts tried is untried for this one:
            what failed for a neighbour of another query may be this prompt's valid tool.
    """
    worked = {a: e for a, e in estimates.items() if a != CLARIFY and e.n and e.value > 0}
    if worked:
        return Advice(best_estimated(worked))
    if tried is None:
        tried = [a for a, e in estimates.items() if e.n > 0]
    untried = tuple(t for t in tools if t != CLARIFY and t not in tried)
    if untried:
        return Advice(None, untried)
    return Advice(best_estimated(estimates))


def advice_for(
    neighbours: Sequence[Neighbour], prompt: str, tools: Sequence[str] = ()
) -> tuple[dict[str, ActionEstimate], Advice | None]:
    """The estimate per action for `prompt` from the rows found for it (`estimate`), and its
    advice (None: nothing is known)."""
    estimates = estimate(neighbours, prompt)
    if not estimates:
        return estimates, None
    own = own_row(neighbours, prompt)
    return estimates, advise(estimates, tools, None if own is None else list(own.actions))
