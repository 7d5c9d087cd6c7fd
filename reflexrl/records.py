"""Immutable records: what the memory holds and what an episode produced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .usage import Usage

CLARIFY = "ask_user_for_clarification"
"""Name of the clarification tool (an action like any other in the memory)."""

INVALID_CALL = "invalid_tool_call"
"""The action recorded for a tool call the agent could not make (its arguments were not valid
JSON, as a provider reports in `AIMessage.invalid_tool_calls`): a step, and a wrong one."""

DECLINE = "decline"
"""The action of answering without calling a tool: declining a request no offered tool
serves. A step only in suites whose requests expect a behaviour (`call`, `ask` or
`decline`: item suites); elsewhere an answer without a tool just ends the episode."""

Kind = Literal["call", "ask", "decline"]
"""The kind of an action: calling a tool, asking (`CLARIFY`) or declining (`DECLINE`)."""
KINDS: tuple[Kind, ...] = ("call", "ask", "decline")


def kind_of(action: str) -> Kind:
    """Whether `action` calls a tool, asks or declines."""
    if action == CLARIFY:
        return "ask"
    return "decline" if action == DECLINE else "call"


USER_STOP = "###STOP###"
"""What a simulated user says when it gives up (tau-bench's stop token): the episode ends."""

Outcome = Literal["valid", "answered", "invalid_call", "max_steps", "gave_up"]
"""How an episode ended: a valid tool; the agent answered without a tool; its last reply was
a tool call it could not make; the step budget ran out; the user gave up (`USER_STOP`)."""

Credit = Literal["current", "origin"]
"""Which prompt a step's reward is credited to: the prompt being handled when the action was
taken (`current`), or the prompt that started the episode (`origin`, the rule of Curuksu's
paper: the tool that finally served a rephrased request is also remembered for the original
request)."""

KNOWN_REWARDS: Mapping[str, float] = {CLARIFY: 0.0}
"""Rewards known without trying (Curuksu's paper: asking earns 0)."""


def best_by_value(
    values: Mapping[str, tuple[float, float]], known: Mapping[str, float] | None = None
) -> str | None:
    """The action of highest value (ties: the most evidence), or None if none was tried.

    Args:
        values: (value, evidence) of each action tried.
        known: Rewards known without trying (default `KNOWN_REWARDS`): an action not tried
            counts at its known reward, with no evidence.
    """
    if not values:
        return None
    scored = dict(values)
    for action, reward in (KNOWN_REWARDS if known is None else known).items():
        scored.setdefault(action, (reward, 0))
    return max(scored, key=lambda a: scored[a])


@dataclass(frozen=True)
class ActionStats:
    """How often one action was taken on one prompt, and the reward it earned in total."""

    n: int
    reward: float

    @property
    def mean(self) -> float:
        """Mean reward per time the action was taken (0.0 if never taken)."""
        return self.reward / self.n if self.n else 0.0


@dataclass(frozen=True)
class MemoryRow:
    """The memory of one prompt: the paper's aggregate reward plus per-action detail."""

    suite: str
    prompt: str
    query: str | None
    reward: float
    visits: int
    clarifications: int
    actions: Mapping[str, ActionStats] = field(default_factory=dict)
    updated_at: str = ""

    def best_action(self, known: Mapping[str, float] | None = None) -> str | None:
        """This prompt's own best action: the highest mean reward (ties: the most tried), or
        None. `reflexrl.memory.best_estimated` picks by its neighbours' rewards as well.

        Args:
            known: Rewards known without trying, for actions not tried yet (by default asking
                for clarification, which always earns 0): so a prompt whose only tried tool
                earned -1 shows asking as its best action, not that tool.
        """
        return best_by_value({a: (s.mean, s.n) for a, s in self.actions.items()}, known)

    def kinds(self) -> dict[Kind, ActionStats]:
        """The record per kind of action (every tool call pooled as `call`): what transfers
        to a request whose tools are not this prompt's."""
        pooled: dict[Kind, ActionStats] = {}
        for action, s in self.actions.items():
            kind = kind_of(action)
            before = pooled.get(kind, ActionStats(0, 0.0))
            pooled[kind] = ActionStats(before.n + s.n, before.reward + s.reward)
        return pooled

    def to_json(self) -> dict[str, Any]:
        """The `memory show --json` shape of this row."""
        return {
            "suite": self.suite,
            "prompt": self.prompt,
            "query": self.query,
            "reward": self.reward,
            "visits": self.visits,
            "clarifications": self.clarifications,
            "actions": {a: {"n": s.n, "reward": s.reward} for a, s in self.actions.items()},
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Step:
    """One action of an episode: a tool call or a clarification, credited to `prompt`."""

    index: int
    prompt: str
    action: str
    args: Mapping[str, Any]
    reward: float
    valid: bool
    credited_to: str | None = None
    """The prompt whose memory this step updates (None: `prompt`)."""
    also_prompt: bool = False
    """Whether `prompt` is credited too, when `credited_to` names another (learning online, a
    tool called after the user's answer credits the request and the answer)."""

    @property
    def credit_key(self) -> str:
        """The prompt whose memory this step updates."""
        return self.prompt if self.credited_to is None else self.credited_to

    @property
    def credit_keys(self) -> tuple[str, ...]:
        """Every prompt whose memory this step updates: `credit_key`, then `prompt` when it
        is credited too."""
        key = self.credit_key
        return (key, self.prompt) if self.also_prompt and self.prompt != key else (key,)

    @property
    def is_clarification(self) -> bool:
        """Whether the agent asked instead of choosing a tool."""
        return self.action == CLARIFY


@dataclass(frozen=True)
class Episode:
    """One reflection: a user prompt, the agent's actions, and their rewards."""

    run_id: str
    index: int
    epoch: int
    suite: str
    query: str
    prompt: str
    explored: bool
    outcome: Outcome
    steps: tuple[Step, ...]
    messages: tuple[Mapping[str, Any], ...] = ()
    memory_blocks: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)

    @property
    def success(self) -> bool:
        """A valid tool was reached within the step budget."""
        return self.outcome == "valid"

    @property
    def reward(self) -> float:
        """Sum of the step rewards."""
        return sum(s.reward for s in self.steps)

    @property
    def clarifications(self) -> int:
        """Number of times the agent asked for clarification."""
        return sum(s.is_clarification for s in self.steps)

    @property
    def wrong_tools(self) -> int:
        """Number of tool calls that were not valid for the query."""
        return sum(not s.valid and not s.is_clarification for s in self.steps)

    @property
    def steps_to_valid(self) -> int | None:
        """1-based step at which a valid tool was called, or None."""
        return next((s.index + 1 for s in self.steps if s.valid), None)


@dataclass(frozen=True)
class Failure:
    """An attempt at an episode that did not finish: it credited nothing and is retried on
    resume. What it spent is kept in `usage`."""

    run_id: str
    index: int
    epoch: int
    query: str
    prompt: str
    error: str
    usage: Usage = field(default_factory=Usage)
    created_at: str = ""


@dataclass(frozen=True)
class RunInfo:
    """A training run: what ran, on what, with which settings."""

    run_id: str
    suite: str
    model: str
    seed: int
    epochs: int
    max_steps: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str | None = None
    status: str = "running"


@dataclass(frozen=True)
class Decision:
    """One decision of an agent invocation outside training, logged before its reward is
    known: the action, its arguments, and the memory block the model call saw."""

    index: int
    prompt: str
    """The prompt being handled: the request, or the user's answer to a question."""
    action: str
    args: Mapping[str, Any]
    block: str | None = None
    failed: bool = False
    """The tool returned an error (a `ToolMessage` with status "error")."""


PendingStatus = Literal["pending", "credited", "expired"]
"""Where a logged invocation stands: waiting for its reward, credited (once), or expired
(no reward arrived in time; counted, never credited)."""


@dataclass(frozen=True)
class PendingEpisode:
    """An agent invocation outside training (`learn=True`): its decisions wait for a reward
    (feedback, outcomes) to be credited as one episode, exactly once."""

    run_id: str
    """The invocation's id: LangGraph's run id (`config={"run_id": ...}`), or one made up."""
    suite: str
    prompt: str
    decisions: tuple[Decision, ...]
    thread_id: str | None = None
    proposed: Mapping[int, float] = field(default_factory=dict)
    """Rewards known when the invocation ended (outcomes), and a judge's when it answers,
    by decision index: credited with the feedback, under it in precedence, or on their own
    when the episode expires."""
    created_at: str = ""
    expires_at: str = ""
    status: PendingStatus = "pending"
    settled_by: str | None = None
    """The feedback key that credited it, or "expiry"."""
    comment: str | None = None
    """The comment of the feedback that credited it."""
    number: int = 0
    """Its place in the store's log of invocations (the credited episode's index)."""
