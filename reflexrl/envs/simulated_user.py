"""Simulated users: who answers `ask_user_for_clarification` during training."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ..errors import BadInputError
from ..usage import price_for
from .llm_user import LLMUser
from .users import ATTITUDES, TemplateUser, UserControls, UserGoal, user_controls

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = [
    "CONTROLS",
    "LLM_PREFIX",
    "USERS",
    "AttitudeUser",
    "RephrasingUser",
    "SimulatedUser",
    "UserSpec",
    "check_user",
    "check_user_model",
    "parse_user",
    "suite_user",
]


@runtime_checkable
class SimulatedUser(Protocol):
    """Answers the agent's clarification question; the answer becomes the current prompt."""

    def answer(self, question: str, current_prompt: str) -> str:
        """The user's next message."""
        ...


@dataclass
class RephrasingUser:
    """The user of Curuksu's paper: on clarification, says another prompt of the same query.

    Args:
        prompts: The prompt variations of the episode's query.
        rng: A seeded random generator (one per episode keeps runs reproducible).
    """

    prompts: Sequence[str]
    rng: random.Random = field(default_factory=random.Random)

    def answer(self, question: str, current_prompt: str) -> str:
        """A uniformly drawn other prompt of the query (the same one if it has no other)."""
        others = [p for p in self.prompts if p != current_prompt]
        return self.rng.choice(others) if others else current_prompt


class AttitudeUser:
    """Curuksu's user with a PolyAI attitude: a question is answered with another prompt of
    the query (as `RephrasingUser`), said in the attitude's words (`TemplateUser`'s rephrase
    templates: "Look, I just want: ..."), and past its patience (fewer questions when
    impatient or frustrated) it gives up with `USER_STOP`, which ends the episode.

    Args:
        prompts: The prompt variations of the episode's query.
        rng: Draws the prompt it says next.
        controls: Its attitude, style and patience (`user_controls`).
        seed: Picks among its templates.
    """

    def __init__(
        self, prompts: Sequence[str], rng: random.Random, controls: UserControls, seed: int
    ) -> None:
        self.rephrasing = RephrasingUser(prompts, rng)
        goal = UserGoal(intent="query", request=prompts[0] if prompts else "?")
        # no slot words: a suite's query has no slots, so every question gets a rephrasing
        self.template = TemplateUser(goal, controls, seed, slot_words={})

    def answer(self, question: str, current_prompt: str) -> str:
        """Another prompt of the query in the attitude's words, or `USER_STOP`."""
        other = self.rephrasing.answer(question, current_prompt)
        self.template.goal = UserGoal(intent="query", request=other)
        return self.template.answer(question, current_prompt)


USERS = ("rephrase", *(f"template:{attitude}" for attitude in ATTITUDES), "llm:MODEL")
"""Who answers a suite's clarification questions: `rephrase` (Curuksu's user, the default),
`template:ATTITUDE` (`AttitudeUser`), or `llm:MODEL` (`LLMUser`: a chat model plays the user;
MODEL is a model spec, such as `local:smollm2` or `openai:gpt-4.1-mini`). A template or LLM
user takes controls after commas: `template:impatient,patience=2,verbosity=verbose` (see
`CONTROLS`)."""
LLM_PREFIX = "llm:"
TEMPLATE_PREFIX = "template:"
CONTROLS = ("attitude", "patience", "reveal", "verbosity", "formality", "grammar")
"""The controls a user spec can set (`UserControls`; the last three are its `style`)."""
_STYLE = ("verbosity", "formality", "grammar")


@dataclass(frozen=True)
class UserSpec:
    """A parsed user spec: its kind, the model of an `llm:` user, and its controls."""

    kind: Literal["rephrase", "template", "llm"]
    controls: UserControls = field(default_factory=UserControls)
    model: str = ""


def parse_user(spec: str) -> UserSpec:
    """The user a spec names (see `USERS`).

    Raises:
        BadInputError: an unknown user, an unknown control, or a bad control value; the
            setting is `user`, and the message names the control.
    """
    head, *pairs = spec.split(",")
    if head == "rephrase" and not pairs:
        return UserSpec("rephrase")
    if head.startswith(LLM_PREFIX) and head.removeprefix(LLM_PREFIX).strip():
        return UserSpec("llm", _controls(spec, pairs, {}), head.removeprefix(LLM_PREFIX))
    attitude = head.removeprefix(TEMPLATE_PREFIX)
    if head.startswith(TEMPLATE_PREFIX) and attitude in ATTITUDES:
        return UserSpec("template", _controls(spec, pairs, {"attitude": attitude}))
    raise BadInputError(f"no user '{spec}' (choose {', '.join(USERS)})", setting="user")


def _controls(spec: str, pairs: Sequence[str], given: dict[str, Any]) -> UserControls:
    """The controls of `KEY=VALUE` pairs over `given`."""
    values: dict[str, Any] = dict(given)
    style: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or key not in CONTROLS or key in values or key in style:
            known = ", ".join(CONTROLS)
            msg = f"{spec}: '{pair}' is not a control KEY=VALUE given once ({known})"
            raise BadInputError(msg, setting="user")
        if key in _STYLE:
            style[key] = value
        else:
            values[key] = _number(spec, key, value) if key in ("patience", "reveal") else value
    try:
        return user_controls(**values, style=style)
    except BadInputError as exc:
        raise BadInputError(f"{spec}: {exc}", setting="user") from None


def _number(spec: str, key: str, value: str) -> int | float:
    try:
        return int(value) if key == "patience" else float(value)
    except ValueError:
        kind = "an integer" if key == "patience" else "a number"
        raise BadInputError(
            f"{spec}: {key} must be {kind}, not {value!r}", setting="user"
        ) from None


def check_user(spec: str) -> None:
    """Refuse a user spec that `parse_user` refuses.

    Raises:
        BadInputError: an unknown user or a bad control.
    """
    parse_user(spec)


def check_user_model(spec: str, model: BaseChatModel | None) -> None:
    """Refuse an `llm:` user without its chat model (before a run starts).

    Raises:
        BadInputError: the user needs a model and has none.
    """
    if spec.startswith(LLM_PREFIX) and model is None:
        raise BadInputError(f"the user {spec} needs its chat model", setting="user")


def suite_user(
    spec: str,
    prompts: Sequence[str],
    rng: random.Random,
    seed: int,
    model: BaseChatModel | None = None,
) -> SimulatedUser:
    """The user `spec` (see `USERS`) over a query's prompts; `llm:` users are played by
    `model` (the spec's model, loaded by the caller), whose goal is the query's first prompt.

    Raises:
        BadInputError: an unknown user or control, or an `llm:` user without its model.
    """
    user = parse_user(spec)
    check_user_model(spec, model)
    if user.kind == "rephrase":
        return RephrasingUser(prompts, rng)
    if user.kind == "llm" and model is not None:
        goal = UserGoal(intent="query", request=prompts[0] if prompts else "?")
        price = price_for(user.model)
        return LLMUser(goal, model, user.controls, seed=seed, price=price)
    return AttitudeUser(prompts, rng, user.controls, seed)
