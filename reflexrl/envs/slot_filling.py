"""Curuksu's slot-filling environment (section 3.1, Appendix A) as a Gymnasium environment.

A simulated user holds one of Appendix A's intents and says one of its prompts; at every turn
the agent takes two actions at once: an intent or the clarification fallback, and a slot
request or none. The observation is a frozen encoder's embedding of the dialogue state (the
paper keeps the language model for the state and learns only the actor), so any Gymnasium
learner can be the actor (`reflexrl.envs.slot_ppo` trains stable-baselines3's PPO).

Reward per turn (section 3.1; `SlotRewards`): +5 for the user's intent, -5 for another intent,
0 for clarifying; +5 for a slot the intent requires and the user has not given yet, -5 for any
other slot, 0 for none; -1 per step.

Where the paper leaves the rules open, this is how they are read here:

- A dialogue ends (terminated, a success: "intent fulfilled") once the agent has named the
  user's intent and every slot that intent requires has been requested, in any order and in
  any turns: the paper's emergent strategy of requesting valid slots while still clarifying
  only saves steps if the slots count towards the end. Table 1's steps (1.0 for /NAVIGATION,
  1.8 for /TUTOR/PIANO and its five slots) are therefore the steps to the intent, reported
  in `info["steps_to_intent"]`, not the dialogue's length.
- The intent earns +5 once, when first named: once named, the user has confirmed it, and
  naming it again earns 0 (else repeating it would pay more than finishing). A wrong intent
  always costs -5.
- A slot the user already gave is no longer required: requesting it again costs -5, like an
  unrequired slot (else repeating it would pay more than finishing).
- Clarifying, or naming a wrong intent, before the intent is named makes the user say another
  of its prompts, drawn uniformly among the others (section 3.2: in experiment 1 the user
  picks "randomly" after a clarification or a wrong guess).
- The step limit is 10 turns (`max_steps`). The paper gives none; Fig. 2's worst early
  dialogues (about -120, a turn costing at most -11) point to 10 or 11, and its 130,000 to
  150,000 interactions for 30,000 dialogues (4.3 to 5 a dialogue) fit a limit near 10 that
  early dialogues hit. Reaching it truncates the dialogue (Gymnasium's `truncated`: the state holds
  no clock).

The state text is the user's current prompt, the intent if named, and the questions of the
slots the user has answered (requested and required; an unrequired request gets no answer and
leaves no trace), e.g. "User: Order a pizza for tonight. Intent: not named yet. Answered:
When do you need it?". It is a small finite set (610 texts for Appendix A), so each text is
embedded once and cached: a step is a dictionary lookup.

Registered with Gymnasium as `reflexrl/SlotFilling-v0` when this module is imported
(`gymnasium.make("reflexrl.envs.slot_filling:reflexrl/SlotFilling-v0")` imports it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..errors import BadInputError
from ..memory.embeddings import LocalEmbeddings

__all__ = [
    "DEFAULT_MAX_STEPS",
    "ENV_ID",
    "INTENTS",
    "SLOTS",
    "Intent",
    "Slot",
    "SlotFillingEnv",
    "SlotRewards",
    "TextEncoder",
]

ENV_ID = "reflexrl/SlotFilling-v0"
DEFAULT_MAX_STEPS = 10


@dataclass(frozen=True)
class Slot:
    """A slot (context data an intent needs) and the question the agent asks for it."""

    name: str
    question: str


@dataclass(frozen=True)
class Intent:
    """A user intent: its name, the slots it requires, the prompts that say it, and what
    serving it does (the description of its tool, for an agent that calls one)."""

    name: str
    slots: tuple[str, ...]
    prompts: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class SlotRewards:
    """The weights of the three reward components (section 3.1's lambdas times +-1)."""

    intent: float = 5.0
    slot: float = 5.0
    step: float = -1.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.intent, self.slot, self.step)):
            raise BadInputError("the reward weights must be finite numbers", setting="rewards")


SLOTS = (
    Slot("location", "Where are you located?"),
    Slot("age", "How old is the student?"),
    Slot("gender", "Would you prefer a male or a female tutor?"),
    Slot("when", "When do you need it?"),
    Slot("how often", "How often do you need it?"),
    # The paper's example of a slot question shared word for word by several intents.
    Slot("pickup or delivery", "Are you looking for pick up or delivery?"),
)
"""Appendix A's six slots."""

# Near-identical prompts across intents are on purpose (section 3.1): pizza vs dessert,
# dentist vs pharmacy, navigating to a place vs wanting what it offers.
INTENTS = (
    Intent(
        "/NAVIGATION",
        (),
        (
            "Take me home.",
            "Give me directions to the train station.",
            "Take me to the nearest pharmacy.",
            "Take me to the dentist.",
            "How do I get to the pizza place downtown?",
        ),
        "Give the user directions to a place.",
    ),
    Intent(
        "/TUTOR/PIANO",
        ("location", "age", "gender", "when", "how often"),
        (
            "I want my daughter to learn the piano.",
            "Find a piano teacher for my son.",
            "I'm looking for piano lessons.",
            "Can someone teach me to play the piano at home?",
            "I need a tutor for my kid.",
        ),
        "Find a piano tutor for lessons.",
    ),
    Intent(
        "/DOCTOR/DENTIST",
        ("location", "when"),
        (
            "I need to see a dentist.",
            "Book me a dental cleaning.",
            "I need something for my toothache.",
            "Book me at the dentist.",
            "My tooth hurts, I need an appointment.",
        ),
        "Book an appointment with a dentist.",
    ),
    Intent(
        "/PHARMACY/ADVIL",
        ("location", "when", "how often", "pickup or delivery"),
        (
            "I need some Advil.",
            "I need some Advil for my toothache.",
            "Get me Advil from the nearest pharmacy.",
            "Order ibuprofen from the pharmacy.",
            "Refill my headache pills.",
        ),
        "Order Advil or other pain pills from a pharmacy.",
    ),
    Intent(
        "/FOOD/PIZZA",
        ("when", "pickup or delivery"),
        (
            "I'd like to order a pizza for tonight.",
            "Can you get me a pizza delivered?",
            "Order a large pepperoni pizza.",
            "I'm hungry, get me something to eat.",
            "I want a pizza.",
        ),
        "Order a pizza.",
    ),
    Intent(
        "/FOOD/DESSERT",
        ("when", "pickup or delivery"),
        (
            "I'd like to order a dessert for tonight.",
            "Can you get me a cake delivered?",
            "Order a large chocolate cake.",
            "I'm hungry, get me something sweet.",
            "I want an ice cream.",
        ),
        "Order a dessert.",
    ),
)
"""Appendix A's six intents (the seventh action is the clarification fallback)."""


class TextEncoder(Protocol):
    """What encodes the state: `LocalEmbeddings` (MiniLM) or any frozen model like it."""

    dimensions: int

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' vectors as the rows of a float array of shape (len(texts), dimensions)."""
        ...


@dataclass
class _EmbeddingCache:
    """Each state text embedded once: the texts are a small finite set."""

    encoder: TextEncoder
    vectors: dict[str, np.ndarray] = field(default_factory=dict)

    def get(self, text: str) -> np.ndarray:
        vector = self.vectors.get(text)
        if vector is None:
            row = np.asarray(self.encoder.embed_array([text])[0], dtype=np.float32)
            vector = self.vectors[text] = row
        return vector


@cache
def _shared_cache() -> _EmbeddingCache:
    """The MiniLM cache every environment built without an encoder shares."""
    return _EmbeddingCache(LocalEmbeddings())


class SlotFillingEnv(gym.Env[np.ndarray, np.ndarray]):
    """Appendix A's dialogues: name the intent (or clarify) and request its slots.

    Actions are `MultiDiscrete([len(intents) + 1, len(slots) + 1])`: the first number is an
    intent's index or `len(intents)` to clarify, the second a slot's index or `len(slots)`
    for none (`action_for` builds them by name). Observations are the encoder's embedding of
    the state text (see the module docstring). `info` holds the user's `intent`, `success`,
    `steps_to_intent` (None until named) and `steps`.

    Args:
        intents: The user's intents (default: Appendix A's six).
        slots: The slots the agent can request (default: Appendix A's six).
        rewards: The reward weights.
        max_steps: Turns before the dialogue is cut off (truncated).
        encoder: The frozen encoder of the state text; default: the shipped MiniLM
            (`LocalEmbeddings`, the `knn` extra), its vectors shared by every environment.

    Raises:
        BadInputError: A parameter is unusable; the error's `setting` names it.
    """

    def __init__(
        self,
        intents: Sequence[Intent] = INTENTS,
        slots: Sequence[Slot] = SLOTS,
        rewards: SlotRewards = SlotRewards(),
        max_steps: int = DEFAULT_MAX_STEPS,
        encoder: TextEncoder | None = None,
    ) -> None:
        self.slots = _checked_slots(slots)
        self.intents = _checked_intents(intents, self.slots)
        self.rewards = _checked(rewards, SlotRewards, "rewards")
        self.max_steps = _checked_max_steps(max_steps)
        self._cache = _shared_cache() if encoder is None else _EmbeddingCache(encoder)
        dimensions = LocalEmbeddings.dimensions if encoder is None else encoder.dimensions
        self.observation_space = spaces.Box(-np.inf, np.inf, (dimensions,), np.float32)
        self.action_space = spaces.MultiDiscrete([len(self.intents) + 1, len(self.slots) + 1])
        self._slot_index = {s.name: i for i, s in enumerate(self.slots)}
        self._intent, self._prompt, self._steps = 0, 0, 0
        self._named: int | None = None
        self._given: frozenset[int] = frozenset()

    @property
    def clarify(self) -> int:
        """The first action's value for the clarification fallback."""
        return len(self.intents)

    @property
    def no_slot(self) -> int:
        """The second action's value for requesting no slot."""
        return len(self.slots)

    def action_for(self, intent: str | None, slot: str | None) -> np.ndarray:
        """The action naming `intent` (None: clarify) and requesting `slot` (None: none)."""
        names = [i.name for i in self.intents]
        if intent is not None and intent not in names:
            raise BadInputError(f"unknown intent {intent!r}", setting="intent")
        if slot is not None and slot not in self._slot_index:
            raise BadInputError(f"unknown slot {slot!r}", setting="slot")
        first = self.clarify if intent is None else names.index(intent)
        second = self.no_slot if slot is None else self._slot_index[slot]
        return np.array([first, second], dtype=np.int64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts a dialogue: an intent and one of its prompts, both drawn uniformly."""
        super().reset(seed=seed)
        self._intent = int(self.np_random.integers(len(self.intents)))
        self._prompt = int(self.np_random.integers(len(self.intents[self._intent].prompts)))
        self._steps, self._named, self._given = 0, None, frozenset()
        return self._observation(), self._info()

    def reset_dialogue(self, seed: int, index: int) -> tuple[np.ndarray, dict[str, Any]]:
        """`reset` to a run's `index`-th dialogue: two learners reset this way with the same
        `seed` meet the same users (intents and prompts; the rephrasings then depend on
        what each does)."""
        return self.reset(seed=seed * 1_000_003 + index)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One turn: both actions are rewarded, then the user answers (see the module)."""
        intent, slot = self._decoded(action)
        self._steps += 1
        reward = self.rewards.step + self._slot_turn(slot) + self._intent_turn(intent)
        terminated = self._fulfilled()
        truncated = not terminated and self._steps >= self.max_steps
        return self._observation(), reward, terminated, truncated, self._info()

    def state_text(self) -> str:
        """The text the observation embeds: prompt, named intent, answered questions."""
        said, named, answered = self.state()
        shown = named or "not named yet"
        return f"User: {said} Intent: {shown}. Answered: {' '.join(answered) or '-'}"

    def state(self) -> tuple[str, str | None, tuple[str, ...]]:
        """What the user said last, the intent once named (else None), and the questions of
        the slots the user answered, in the slots' order."""
        user = self.intents[self._intent]
        named = user.name if self._named is not None else None
        answered = tuple(s.question for i, s in enumerate(self.slots) if i in self._given)
        return user.prompts[self._prompt], named, answered

    def _decoded(self, action: Any) -> tuple[int, int]:
        values = np.asarray(action).reshape(-1)
        if values.shape != (2,) or not self.action_space.contains(values.astype(np.int64)):
            raise BadInputError(f"{action!r} is not in {self.action_space}", setting="action")
        return int(values[0]), int(values[1])

    def _slot_turn(self, slot: int) -> float:
        """The slot component; a required slot not yet given is answered."""
        if slot == self.no_slot:
            return 0.0
        required = self.slots[slot].name in self.intents[self._intent].slots
        if required and slot not in self._given:
            self._given |= {slot}
            return self.rewards.slot
        return -self.rewards.slot

    def _intent_turn(self, intent: int) -> float:
        """The intent component; the user rephrases while the intent is not named."""
        if intent == self._intent:
            if self._named is not None:
                return 0.0
            self._named = self._steps
            return self.rewards.intent
        if self._named is None:
            self._rephrase()
        return 0.0 if intent == self.clarify else -self.rewards.intent

    def _rephrase(self) -> None:
        """The user says another prompt of the same intent, drawn uniformly."""
        count = len(self.intents[self._intent].prompts)
        if count > 1:
            other = int(self.np_random.integers(count - 1))
            self._prompt = other + (other >= self._prompt)

    def _fulfilled(self) -> bool:
        required = {self._slot_index[s] for s in self.intents[self._intent].slots}
        return self._named is not None and required <= self._given

    def _observation(self) -> np.ndarray:
        return self._cache.get(self.state_text()).copy()

    def _info(self) -> dict[str, Any]:
        return {
            "intent": self.intents[self._intent].name,
            "success": self._fulfilled(),
            "steps_to_intent": self._named,
            "steps": self._steps,
        }


def _checked(value: Any, kind: type, setting: str) -> Any:
    if not isinstance(value, kind):
        raise BadInputError(f"expected a {kind.__name__}, not {value!r}", setting=setting)
    return value


def _checked_max_steps(max_steps: Any) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        msg = f"must be an integer of at least 1, not {max_steps!r}"
        raise BadInputError(msg, setting="max_steps")
    return max_steps


def _checked_slots(slots: Sequence[Slot]) -> tuple[Slot, ...]:
    checked = tuple(_checked(s, Slot, "slots") for s in slots)
    names = [s.name for s in checked]
    if len(set(names)) != len(names):
        raise BadInputError(f"duplicate slot names in {names}", setting="slots")
    if any(not s.name.strip() or not s.question.strip() for s in checked):
        raise BadInputError("every slot needs a name and a question", setting="slots")
    return checked


def _checked_intents(intents: Sequence[Intent], slots: tuple[Slot, ...]) -> tuple[Intent, ...]:
    checked = tuple(_checked(i, Intent, "intents") for i in intents)
    if not checked:
        raise BadInputError("at least one intent is needed", setting="intents")
    if len({i.name for i in checked}) != len(checked):
        raise BadInputError("the intent names must be distinct", setting="intents")
    for intent in checked:
        _check_intent(intent, {s.name for s in slots})
    prompts = [p for i in checked for p in i.prompts]
    if len(set(prompts)) != len(prompts):
        msg = "a prompt belongs to two intents (or twice to one)"
        raise BadInputError(msg, setting="intents")
    return checked


def _check_intent(intent: Intent, slot_names: set[str]) -> None:
    if not intent.prompts or any(not p.strip() for p in intent.prompts):
        raise BadInputError(f"{intent.name} needs non-blank prompts", setting="intents")
    unknown = set(intent.slots) - slot_names
    if unknown or len(set(intent.slots)) != len(intent.slots):
        msg = f"{intent.name}: unknown or repeated slots {sorted(intent.slots)}"
        raise BadInputError(msg, setting="intents")


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=f"{__name__}:SlotFillingEnv")
