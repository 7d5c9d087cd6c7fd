"""Controllable simulated users, after PolyAI's: a user generated from a goal, an attitude, a
style and a synthetic profile, scored by a conversation-level outcome.

`TemplateUser` needs no model: its phrases are data (`TEMPLATES` per attitude, `FRAMES` per
style, `COLLOQUIAL` substitutions), drawn with a seeded generator, so a user is the same for a
seed. It follows tau-bench's simulator rules: it answers the question it was asked and never
volunteers a detail it was not asked for (beyond the share `reveal` of its opening message),
never invents one (a slot it does not hold gets "any is fine" or "I don't know", after its
goal's flexibility), and says `USER_STOP` once its patience runs out. `LLMUser`
(`reflexrl.envs.llm_user`) is the second implementation: a chat model plays the user under the
same goal, controls and rules (`revealed_details`, `user_patience`, `UserGoal.flexible`).

A question is mapped to slots by words: the slot's name, or one of its phrases in
`SLOT_WORDS` ("where", "located" for location), matched as whole words in the lowercased
question. Several slots in one question get one answer with each value; a question that maps
to no slot gets the request rephrased (the attitude's template).

    goal = UserGoal(intent="/FOOD/PIZZA", request="I want a pizza.", details={"when": "at 7"})
    user = TemplateUser(goal, user_controls(attitude="impatient", reveal=0), seed=3)
    user.first_message()                       # the request, no details
    user.answer("When do you need it?", "")    # "at 7. Can we speed this up?"
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import BadInputError
from ..records import USER_STOP
from .trajectory import is_user_turn

__all__ = [
    "ATTITUDES",
    "COLLOQUIAL",
    "FRAMES",
    "PATIENCE",
    "SLOT_WORDS",
    "TEMPLATES",
    "USER_STOP",
    "Attitude",
    "ConversationOutcome",
    "Profile",
    "Style",
    "TemplateUser",
    "UserControls",
    "UserGoal",
    "conversation_outcome",
    "first_message",
    "revealed_details",
    "user_controls",
    "user_patience",
]


Attitude = Literal["cooperative", "impatient", "confused", "polite", "frustrated"]
ATTITUDES: tuple[Attitude, ...] = ("cooperative", "impatient", "confused", "polite", "frustrated")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class UserGoal(_Frozen):
    """What the user wants.

    Attributes:
        intent: The query or intent id the conversation must serve.
        request: How the user says it (e.g. one of the intent's prompts); None: the intent id
            read as words ("/FOOD/PIZZA": "food pizza").
        details: The details the user holds, slot -> value, in the order it reveals them.
        flexibility: 0: it wants exactly this; 1: anything close will do (it then answers
            "any is fine" for a slot it holds no value for).
    """

    intent: str = Field(min_length=1)
    request: str | None = Field(default=None, min_length=1)
    details: dict[str, str] = Field(default_factory=dict)
    flexibility: float = Field(default=0.5, ge=0.0, le=1.0)

    @field_validator("details")
    @classmethod
    def _non_blank(cls, details: dict[str, str]) -> dict[str, str]:
        if any(not k.strip() or not v.strip() for k, v in details.items()):
            raise ValueError("every detail needs a slot name and a value")
        return details

    @property
    def flexible(self) -> bool:
        """Whether a slot it holds no value for gets "any is fine" (else "I don't know")."""
        return self.flexibility >= 0.5

    def said_request(self) -> str:
        """The request in the user's words."""
        return self.request or self.intent.strip("/").replace("/", " ").replace("_", " ").lower()


class Style(_Frozen):
    """How the user writes (PolyAI's concise/verbose, formal/casual, grammatical/colloquial)."""

    verbosity: Literal["terse", "verbose"] = "terse"
    formality: Literal["formal", "casual"] = "casual"
    grammar: Literal["grammatical", "colloquial"] = "grammatical"


_NAMES = ("Alex Moreau", "Priya Natarajan", "Sam Okafor", "Lena Fischer", "Tomás Ruiz", "Mei Chen")
_LOCATIONS = ("Lyon", "Pune", "Lagos", "Hamburg", "Valencia", "Taipei", "Denver", "Leeds")


class Profile(_Frozen):
    """Synthetic user metadata (never a real person's: PolyAI synthesizes it too)."""

    name: str = Field(min_length=1)
    age: int = Field(ge=0, le=130)
    location: str = Field(min_length=1)

    @classmethod
    def synthetic(cls, seed: int) -> Profile:
        """A profile drawn from small lists, the same for a seed."""
        rng = random.Random(f"reflexrl:profile:{seed}")
        return cls(
            name=rng.choice(_NAMES), age=rng.randint(18, 85), location=rng.choice(_LOCATIONS)
        )


class UserControls(_Frozen):
    """The controls a user is generated from, besides its goal.

    Attributes:
        attitude: Picks the phrase templates and how soon it gives up (`PATIENCE`).
        style: How it writes.
        reveal: The share of its goal's details its opening message gives (0: none).
        patience: Questions it answers before giving up (fewer when impatient or frustrated).
    """

    attitude: Attitude = "cooperative"
    style: Style = Field(default_factory=Style)
    reveal: float = Field(default=0.0, ge=0.0, le=1.0)
    patience: int = Field(default=5, ge=1, le=100, strict=True)


def user_controls(**kwargs: Any) -> UserControls:
    """`UserControls` from keyword values, a bad one as a `BadInputError` naming its field.

    Raises:
        BadInputError: A value does not validate; `setting` is its field ("style.verbosity").
    """
    try:
        return UserControls(**kwargs)
    except ValidationError as error:
        first = error.errors()[0]
        setting = ".".join(str(part) for part in first["loc"]) or "controls"
        raise BadInputError(first["msg"], setting=setting) from None


# The phrases, as data. Placeholders: {value} and {slot} (answers), {request}, {name}.
TEMPLATES: Mapping[str, Mapping[Attitude, tuple[str, ...]]] = {
    "open": {
        "cooperative": ("{request}", "Hi. {request}"),
        "impatient": ("{request} Quickly.", "{request} I'm in a hurry."),
        "confused": ("Um, I think... {request}", "Hello? {request}"),
        "polite": ("Could you help me, please? {request}", "Good to reach you. {request}"),
        "frustrated": ("{request} Please get it right this time.", "{request} Again."),
    },
    "answer": {
        "cooperative": ("{value}.", "It's {value}."),
        "impatient": ("{value}. Can we speed this up?", "{value}. Next?"),
        "confused": ("Um, {value}, I think?", "Oh, the {slot}? {value}."),
        "polite": ("{value}, if that's alright.", "That would be {value}, please."),
        "frustrated": ("{value}. This is taking too long.", "{value}! More questions?"),
    },
    "flexible": {
        "cooperative": ("Any {slot} is fine.", "I don't mind the {slot}."),
        "impatient": ("Whatever {slot}, just do it.",),
        "confused": ("The {slot}? Um, anything, I guess.",),
        "polite": ("Any {slot} would be fine, thanks.",),
        "frustrated": ("I don't care about the {slot}.",),
    },
    "unknown": {
        "cooperative": ("I don't know the {slot}.",),
        "impatient": ("No idea. Move on.",),
        "confused": ("The {slot}? I'm not sure.",),
        "polite": ("I'm afraid I don't know the {slot}.",),
        "frustrated": ("How would I know the {slot}?",),
    },
    "rephrase": {
        "cooperative": ("Sorry, let me rephrase: {request}", "What I mean is: {request}"),
        "impatient": ("I told you: {request}", "Just this: {request}"),
        "confused": ("Sorry, I don't follow. {request}", "I'm not sure what you mean. {request}"),
        "polite": (
            "Apologies for being unclear. {request}",
            "Let me put it another way: {request}",
        ),
        "frustrated": ("Again: {request}", "You're not listening. {request}"),
    },
}
"""Phrase templates per kind of message and attitude."""

FRAMES: Mapping[tuple[str, str], Mapping[str, tuple[str, ...]]] = {
    ("terse", "formal"): {"greeting": ("",), "closing": (" Thank you.",)},
    ("terse", "casual"): {"greeting": ("",), "closing": (" Cheers.",)},
    ("verbose", "formal"): {
        "greeting": ("Good day. ", "Hello, this is {name}. "),
        "closing": (
            " Thank you very much for your assistance.",
            " I would be grateful for your help.",
        ),
    },
    ("verbose", "casual"): {
        "greeting": ("Hey there! ", "Hi, {name} here. "),
        "closing": (" Cheers, thanks a lot!", " Thanks a bunch, you're the best!"),
    },
}
"""Per (verbosity, formality): what opens the first message and what closes every message."""

COLLOQUIAL: Mapping[str, str] = {
    "I would": "I'd",
    "Thank you": "Thanks",
    "going to": "gonna",
    "want to": "wanna",
    "Hello": "Hiya",
    "you": "ya",
    "I don't know": "dunno",
}
"""Whole-word substitutions of a colloquial user (applied to templates, never to values)."""

PATIENCE: Mapping[Attitude, float] = {
    "cooperative": 1.0,
    "polite": 1.0,
    "confused": 1.0,
    "impatient": 0.5,
    "frustrated": 0.6,
}
"""The share of `UserControls.patience` an attitude keeps."""

SLOT_WORDS: Mapping[str, tuple[str, ...]] = {
    "location": ("where", "located", "location", "address", "city", "area"),
    "age": ("how old", "age"),
    "gender": ("gender", "male", "female", "man or woman"),
    "when": ("when", "what time", "which day", "date"),
    "how often": ("how often", "frequency", "how many times"),
    "pickup or delivery": ("pick up", "pickup", "delivery", "delivered", "collect"),
}
"""Phrases that ask for a slot (Appendix A's), besides the slot's own name."""


def revealed_details(goal: UserGoal, controls: UserControls) -> list[tuple[str, str]]:
    """The details an opening message may give: the first `reveal` share of them, in order
    (every user implementation opens under this one rule)."""
    shown = math.floor(controls.reveal * len(goal.details) + 1e-9)
    return list(goal.details.items())[:shown]


def user_patience(controls: UserControls) -> int:
    """Questions a user answers before it gives up: `patience` times its attitude's share
    (`PATIENCE`), at least one. Shared so that every implementation gives up at the same turn."""
    return max(1, math.floor(controls.patience * PATIENCE[controls.attitude]))


def first_message(
    goal: UserGoal, controls: UserControls, seed: int = 0, profile: Profile | None = None
) -> str:
    """The opening request: the goal's request and the first `reveal` share of its details.

    Args:
        goal: What the user wants.
        controls: How it says it.
        seed: Picks among the templates.
        profile: Its synthetic profile (default: `Profile.synthetic(seed)`).
    """
    rng = random.Random(f"reflexrl:first-message:{seed}")
    details = revealed_details(goal, controls)
    request = " ".join([goal.said_request(), *(f"{slot}: {value}." for slot, value in details)])
    values = {"request": request, "name": (profile or Profile.synthetic(seed)).name}
    return _phrase("open", controls, rng, values)


def _phrase(kind: str, controls: UserControls, rng: random.Random, values: dict[str, str]) -> str:
    """A message of a kind: the attitude's template in the style's frame, then the values."""
    style = controls.style
    frame = FRAMES[(style.verbosity, style.formality)]
    greeting = rng.choice(frame["greeting"]) if kind == "open" else ""
    core = rng.choice(TEMPLATES[kind][controls.attitude])
    template = greeting + core + rng.choice(frame["closing"])
    if style.grammar == "colloquial":
        template = _colloquial(template)
    return template.format(**values)


def _colloquial(template: str) -> str:
    for formal, loose in COLLOQUIAL.items():
        template = re.sub(rf"\b{re.escape(formal)}\b(?!')", loose, template)
    template = template.rstrip(".")
    return template[:1].lower() + template[1:]


def _words(text: str) -> str:
    """Lowercased words between single spaces, padded, for whole-word matching."""
    return f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "


class TemplateUser:
    """A `SimulatedUser` from a goal and controls, without a model (see the module).

    Args:
        goal: What it wants and the details it holds.
        controls: Attitude, style, reveal and patience.
        seed: Picks among the templates: a seed gives the same user.
        profile: Its synthetic profile (default: `Profile.synthetic(seed)`).
        slot_words: Phrases that ask for each slot, besides the slot's name.
    """

    def __init__(
        self,
        goal: UserGoal,
        controls: UserControls | None = None,
        seed: int = 0,
        profile: Profile | None = None,
        slot_words: Mapping[str, Sequence[str]] = SLOT_WORDS,
    ) -> None:
        self.goal, self.controls, self.seed = goal, controls or UserControls(), seed
        self.profile = profile or Profile.synthetic(seed)
        self.slot_words = slot_words
        self.questions = 0
        self._rng = random.Random(f"reflexrl:template-user:{seed}")

    @property
    def patience(self) -> int:
        """Questions it answers before it gives up, after its attitude (`user_patience`)."""
        return user_patience(self.controls)

    @property
    def gave_up(self) -> bool:
        """Whether its patience has run out."""
        return self.questions > self.patience

    def first_message(self) -> str:
        """Its opening request (`first_message`)."""
        return first_message(self.goal, self.controls, self.seed, self.profile)

    def answer(self, question: str, current_prompt: str) -> str:
        """Its reply to the agent's question: the slots asked, or the request rephrased."""
        self.questions += 1
        if self.gave_up:
            return USER_STOP
        asked = self.slots_asked(question)
        held = [slot for slot in asked if slot in self.goal.details]
        if held:
            value = " and ".join(self.goal.details[slot] for slot in held)
            return self._say("answer", value=value, slot=" and ".join(held))
        if asked:
            kind = "flexible" if self.goal.flexible else "unknown"
            return self._say(kind, slot=" and ".join(asked))
        return self._rephrase(current_prompt)

    def slots_asked(self, question: str) -> list[str]:
        """The slots a question asks for: its name or one of its phrases, as whole words."""
        text = _words(question)
        names = dict.fromkeys([*self.goal.details, *self.slot_words])
        return [
            slot
            for slot in names
            if any(_words(p) in text for p in (slot, *self.slot_words.get(slot, ())))
        ]

    def _say(self, kind: str, **values: str) -> str:
        return _phrase(kind, self.controls, self._rng, {"name": self.profile.name, **values})

    def _rephrase(self, current_prompt: str) -> str:
        """The request in other words: a few draws to avoid repeating the current prompt."""
        message = ""
        for _ in range(4):
            message = self._say("rephrase", request=self.goal.said_request())
            if message != current_prompt:
                break
        return message


@dataclass(frozen=True)
class ConversationOutcome:
    """A finished conversation, scored as a whole (PolyAI's conversation-level reward).

    Attributes:
        intent: The goal's intent.
        goal_reached: Whether the conversation served it.
        turns: The user's turns (its messages and its answers to clarifications).
        gave_up: Whether the user said `USER_STOP`.
    """

    intent: str
    goal_reached: bool
    turns: int
    gave_up: bool


def conversation_outcome(
    messages: Sequence[BaseMessage],
    goal: UserGoal,
    served: Callable[[Sequence[BaseMessage]], bool],
) -> ConversationOutcome:
    """Scores a finished dialogue against a goal.

    Args:
        messages: The dialogue (human messages and clarification answers are the user's).
        goal: The user's goal.
        served: Whether the messages served the goal's intent (e.g. the right tool called).
    """
    user_turns = [m for m in messages if is_user_turn(m)]
    return ConversationOutcome(
        intent=goal.intent,
        goal_reached=bool(served(messages)),
        turns=len(user_turns),
        gave_up=any(USER_STOP in m.text for m in user_turns),
    )
