"""A simulated user played by a chat model, after tau-bench's user simulator, under PolyAI's
controls: the second implementation beside `TemplateUser`, with the same surface
(`first_message()`, `answer(question, current_prompt)`, `gave_up`, `questions`).

The model is told who it is (the goal, the controls and the synthetic profile) and tau-bench's
rules (`USER_PROMPT`, versioned by `USER_PROMPT_VERSION`). The roles are inverted: the agent's
questions reach the model as `HumanMessage`s and the user's own earlier replies as `AIMessage`s,
so the model writes the next user turn. The rules a model may not keep are also kept in code:
past its patience (`user_patience`, as `TemplateUser`) it says `USER_STOP` without a call, and a
reply holding `USER_STOP` anywhere becomes exactly `USER_STOP`.

This module sits below `reflexrl.models` (the layers), so it takes a LangChain chat model, not
a spec: load one with `reflexrl.models.specs.load_model` (`openai:...` with `base_url=` for a
llama.cpp server) and pass its price (`reflexrl.usage.price_for(spec)`) to cost the calls.

    model = load_model("openai:gpt-4.1-mini", base_url="http://127.0.0.1:8080/v1")
    user = LLMUser(goal, model, user_controls(attitude="impatient"), seed=3)
    user.first_message()                       # the model's opening request
    user.answer("When do you need it?", "")    # its answer, or "###STOP###"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from ..errors import EpisodeError
from ..usage import Price, Usage, message_usage
from .users import (
    USER_STOP,
    Attitude,
    Profile,
    Style,
    UserControls,
    UserGoal,
    revealed_details,
    user_patience,
)

__all__ = [
    "ATTITUDE_TEXT",
    "OPENING",
    "USER_PROMPT",
    "USER_PROMPT_VERSION",
    "LLMUser",
    "user_prompt",
]

USER_PROMPT_VERSION = "llm-user-1"
"""Changes whenever `USER_PROMPT` or its parts change (a record of a run can name it)."""

USER_PROMPT = """\
You are a user talking to an assistant. You are the user, not the assistant: never offer \
help, never answer for the assistant, never ask the assistant's questions back. Write only \
your own next message, one message at a time.

Who you are: {name}, {age} years old, from {location}.
What you want: {request}
The details you hold (slot: value):
{details}

How you write: {attitude} {style}

Rules:
- Opening: in your first message, say what you want{opening}
- Reveal your goal only as you are asked: answer only what the assistant's last message \
asks, in your own words, and never volunteer another detail.
- Never invent a detail you do not hold: if you are asked for something not listed above, \
{unknown}
- Keep to how you write in every message.
- When your goal is met (the assistant has done what you want), reply with exactly {stop} \
and nothing else.
- Your patience: you answer at most {patience} questions. Past that, reply with exactly \
{stop} and nothing else.
"""
"""The user model's system prompt (placeholders filled by `user_prompt`)."""

OPENING = "Hi! How can I help you today?"
"""The assistant's greeting the opening message answers (tau-bench's)."""

ATTITUDE_TEXT: Mapping[Attitude, str] = {
    "cooperative": "You are cooperative: you answer plainly and helpfully.",
    "impatient": "You are impatient: you are in a hurry, terse, and push for speed.",
    "confused": "You are confused: you are unsure of yourself and hedge your answers.",
    "polite": "You are polite: you say please and thank you.",
    "frustrated": "You are frustrated: this went wrong before, and you let it show.",
}
"""How each attitude is described to the model (`TemplateUser`'s `TEMPLATES` in words)."""

_STYLE_TEXT: Mapping[str, str] = {
    "terse": "Your messages are short.",
    "verbose": "Your messages are long and chatty.",
    "formal": "Your tone is formal.",
    "casual": "Your tone is casual.",
    "grammatical": "You write in full, correct sentences.",
    "colloquial": "You write colloquially (contractions, slang, loose grammar), but you "
    "give every value exactly as listed.",
}


def user_prompt(goal: UserGoal, controls: UserControls, profile: Profile) -> str:
    """`USER_PROMPT` for one user: its goal, profile, attitude and style, the details its
    opening may give (`revealed_details`: the share `reveal` allows) and its patience."""
    details = goal.details.items()
    return USER_PROMPT.format(
        name=profile.name,
        age=profile.age,
        location=profile.location,
        request=goal.said_request(),
        details="\n".join(f"- {slot}: {value}" for slot, value in details) or "(none)",
        attitude=ATTITUDE_TEXT[controls.attitude],
        style=_style_text(controls.style),
        opening=_opening_rule(revealed_details(goal, controls)),
        unknown=("say that anything is fine." if goal.flexible else "say that you do not know."),
        stop=USER_STOP,
        patience=user_patience(controls),
    )


def _style_text(style: Style) -> str:
    return " ".join(_STYLE_TEXT[v] for v in (style.verbosity, style.formality, style.grammar))


def _opening_rule(shown: Sequence[tuple[str, str]]) -> str:
    """The opening's share of the details, spelled out: a model told "reveal 40%" would
    pick its own."""
    if not shown:
        return ", and give none of your details."
    listed = "; ".join(f"{slot}: {value}" for slot, value in shown)
    return f", with these details and no others: {listed}."


def _model_name(model: BaseChatModel) -> str:
    """The name errors give the user model: its model id, else its class."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


class LLMUser:
    """A `SimulatedUser` played by a chat model (see the module).

    Args:
        goal: What it wants and the details it holds.
        model: The chat model that writes its messages (its temperature is the caller's).
        controls: Attitude, style, reveal and patience.
        seed: Picks its synthetic profile, as `TemplateUser`'s does.
        profile: Its synthetic profile (default: `Profile.synthetic(seed)`).
        price: USD per token of the model (`price_for(spec)`); None: the cost is unknown.

    Attributes:
        history: The conversation as the model sees it, after the system prompt (the
            agent's turns `HumanMessage`s, its own `AIMessage`s).
        usage: What its model calls consumed (a failed call too).
        questions: The questions it was asked.
        stopped: Whether it said `USER_STOP` (its goal met, or its patience gone).
    """

    def __init__(
        self,
        goal: UserGoal,
        model: BaseChatModel,
        controls: UserControls | None = None,
        seed: int = 0,
        profile: Profile | None = None,
        *,
        price: Price | None = None,
    ) -> None:
        self.goal, self.model, self.controls = goal, model, controls or UserControls()
        self.seed, self.price = seed, price
        self.profile = profile or Profile.synthetic(seed)
        self.system_prompt = user_prompt(self.goal, self.controls, self.profile)
        self.history: list[BaseMessage] = []
        self.usage = Usage()
        self.questions = 0
        self.stopped = False

    @property
    def patience(self) -> int:
        """Questions it answers before it gives up (`user_patience`, as `TemplateUser`)."""
        return user_patience(self.controls)

    @property
    def gave_up(self) -> bool:
        """Whether it said `USER_STOP` (it then says nothing else)."""
        return self.stopped

    def first_message(self) -> str:
        """Its opening request, written by the model once (later calls repeat it)."""
        if self.history:
            return self._opening()
        return self._turn(OPENING)

    def answer(self, question: str, current_prompt: str) -> str:
        """Its reply to the agent's question; `USER_STOP` without a call once it stopped or
        past its patience.

        Raises:
            EpisodeError: The model's reply is empty (the call is counted in `usage`).
        """
        self.questions += 1
        if not self.history and current_prompt:  # opened by the episode, not by first_message
            self.history += [HumanMessage(OPENING), AIMessage(current_prompt)]
        if self.stopped or self.questions > self.patience:
            self.stopped = True
            self.history += [HumanMessage(question), AIMessage(USER_STOP)]
            return USER_STOP
        return self._turn(question)

    def _opening(self) -> str:
        """Its first reply in the history (the opening request)."""
        return next(m.text for m in self.history if isinstance(m, AIMessage))

    def _turn(self, said: str) -> str:
        """One model call on the agent's turn `said`; the history grows only on success."""
        asked = HumanMessage(said)
        reply = self.model.invoke([SystemMessage(self.system_prompt), *self.history, asked])
        self._count(message_usage(reply))
        text = reply.text.strip()
        if not text:
            msg = f"the user model {_model_name(self.model)} gave an empty reply"
            raise EpisodeError(msg)
        if USER_STOP in text:
            self.stopped, text = True, USER_STOP
        self.history += [asked, AIMessage(text)]
        return text

    def _count(self, used: Usage) -> None:
        """Add one call's usage, priced (None when the price is unknown)."""
        cost = None if self.price is None else self.price.cost(used)
        self.usage = self.usage + replace(used, cost=cost)
