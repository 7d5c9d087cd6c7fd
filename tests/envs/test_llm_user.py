"""A simulated user played by a chat model (tau-bench's simulator under PolyAI's controls): the
model writes its turns from a system prompt with the goal and the rules, sees the agent's
questions as the other party's turns, and the stop token and patience hold in code too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from stub_provider import StubProvider

from reflexrl.envs.llm_user import OPENING, USER_PROMPT_VERSION, LLMUser
from reflexrl.envs.simulated_user import SimulatedUser
from reflexrl.envs.users import (
    ATTITUDES,
    USER_STOP,
    TemplateUser,
    UserControls,
    UserGoal,
    revealed_details,
)
from reflexrl.errors import EpisodeError
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.models.specs import load_model
from reflexrl.usage import price_for

VALUES = {"location": "Zq1loc", "when": "Zq4when", "how often": "Zq5often", "age": "Zq2age"}
REQUEST = "I'm looking for piano lessons."
PIANO = UserGoal(intent="/TUTOR/PIANO", request=REQUEST, details=VALUES)
TOKENS = {"input_tokens": 40, "output_tokens": 5, "total_tokens": 45}


def _scripted(*replies: str) -> ScriptedChatModel:
    return ScriptedChatModel(script=[AIMessage(r, usage_metadata=TOKENS) for r in replies])


def _system(model: ScriptedChatModel, call: int = 0) -> str:
    first = model.requests[call][0]
    assert isinstance(first, SystemMessage)
    return first.text


def _opening_rule(prompt: str) -> str:
    return next(line for line in prompt.splitlines() if line.startswith("- Opening:"))


def test_its_turns_come_from_the_model_which_sees_the_questions_as_the_other_party() -> None:
    model = _scripted("I want piano lessons.", "  Zq1loc, downtown.\n")
    user = LLMUser(PIANO, model, UserControls(patience=10))
    assert isinstance(user, SimulatedUser) and USER_PROMPT_VERSION
    assert user.first_message() == "I want piano lessons."
    assert user.answer("Where are you located?", "I want piano lessons.") == "Zq1loc, downtown."
    assert user.questions == 1 and not user.gave_up
    prompt = _system(model)
    assert REQUEST in prompt and all(f"{k}: {v}" in prompt for k, v in VALUES.items())
    assert "You are the user, not the assistant" in prompt and USER_STOP in prompt
    assert "Never invent a detail" in prompt and "answer only what" in prompt
    assert model.requests[0][1:] == [HumanMessage(OPENING)]
    assert model.requests[1][1:] == [
        HumanMessage(OPENING),
        AIMessage("I want piano lessons."),
        HumanMessage("Where are you located?"),
    ]
    assert user.history[-1] == AIMessage("Zq1loc, downtown.")
    assert user.usage.calls == 2 and user.usage.input_tokens == 80
    assert user.usage.output_tokens == 10 and user.usage.cost is None  # no price given


def test_a_reply_holding_the_stop_token_is_exactly_the_token_and_ends_it() -> None:
    model = _scripted("Great, that's all I needed. ###STOP### Bye!")
    user = LLMUser(PIANO, model, UserControls(patience=10))
    assert user.answer("Booked for 7. Anything else?", REQUEST) == USER_STOP
    assert user.gave_up and user.stopped
    assert user.answer("Hello?", REQUEST) == USER_STOP  # it left: no further call
    assert len(model.requests) == 1 and user.history[-1] == AIMessage(USER_STOP)


@pytest.mark.parametrize("attitude", ATTITUDES)
def test_past_its_patience_it_stops_without_a_call_at_the_template_users_turn(
    attitude: Any,
) -> None:
    controls = UserControls(attitude=attitude, patience=6)
    model = _scripted(*(f"answer {i}" for i in range(10)))
    user, template = LLMUser(PIANO, model, controls), TemplateUser(PIANO, controls)
    said = [user.answer(f"Question {i}?", REQUEST) for i in range(8)]
    expected = [template.answer(f"Question {i}?", REQUEST) == USER_STOP for i in range(8)]
    assert [s == USER_STOP for s in said] == expected
    assert user.patience == template.patience and len(model.requests) == user.patience
    assert said[: user.patience] == [f"answer {i}" for i in range(user.patience)]
    assert user.gave_up and f"at most {user.patience} questions" in _system(model)


@pytest.mark.parametrize("reveal", [0.0, 0.5, 1.0])
def test_the_opening_rule_lists_only_the_details_reveal_allows(reveal: float) -> None:
    model = _scripted("Piano lessons, please.")
    controls = UserControls(reveal=reveal)
    LLMUser(PIANO, model, controls).first_message()
    rule = _opening_rule(_system(model))
    shown = dict(revealed_details(PIANO, controls))
    assert len(shown) == int(reveal * len(VALUES))
    assert [v for v in VALUES.values() if v in rule] == list(shown.values())
    assert ("give none of your details" in rule) == (reveal == 0.0)


def test_what_it_says_of_a_detail_it_does_not_hold_follows_its_flexibility() -> None:
    for flexibility, says in [(1.0, "anything is fine"), (0.0, "you do not know")]:
        goal = PIANO.model_copy(update={"flexibility": flexibility})
        user = LLMUser(goal, _scripted())
        assert f"not listed above, say that {says}" in " ".join(user.system_prompt.split())


def test_it_is_seeded_like_a_template_user_and_the_prompt_holds_its_profile() -> None:
    controls = UserControls(attitude="frustrated")
    user = LLMUser(PIANO, _scripted(), controls, seed=3)
    assert user.profile == TemplateUser(PIANO, controls, seed=3).profile
    assert user.profile.name in user.system_prompt and "frustrated" in user.system_prompt
    assert LLMUser(PIANO, _scripted(), controls, seed=3).system_prompt == user.system_prompt


def test_an_answer_before_any_opening_sees_the_current_prompt_as_its_own_turn() -> None:
    model = _scripted("Zq4when.")
    user = LLMUser(PIANO, model)
    assert user.answer("When?", "piano lessons pls") == "Zq4when."
    assert model.requests[0][1:] == [
        HumanMessage(OPENING),
        AIMessage("piano lessons pls"),
        HumanMessage("When?"),
    ]
    assert user.first_message() == "piano lessons pls" and len(model.requests) == 1


def test_the_opening_is_written_once() -> None:
    model = _scripted("Piano lessons.", "never said")
    user = LLMUser(PIANO, model)
    assert user.first_message() == user.first_message() == "Piano lessons."
    assert len(model.requests) == 1


def test_an_empty_reply_is_an_episode_error_naming_the_model_and_counted() -> None:
    model = _scripted("  \n")
    user = LLMUser(PIANO, model)
    with pytest.raises(EpisodeError, match="user model ScriptedChatModel gave an empty reply"):
        user.answer("When?", "")
    assert user.usage.calls == 1 and user.history == [] and not user.gave_up


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        provider.say_next(
            "I need piano lessons.", "Zq4when, please.", "Perfect, thanks! ###STOP###"
        )
        yield provider


def test_over_http_it_stops_at_its_token(stub: StubProvider) -> None:
    spec = "openai:gpt-4.1-mini"
    model = load_model(spec, base_url=stub.openai_url)
    user = LLMUser(PIANO, model, UserControls(patience=10), price=price_for(spec))
    assert user.first_message() == "I need piano lessons."
    assert user.answer("When would you like them?", "") == "Zq4when, please."
    assert user.answer("Booked. Anything else?", "") == USER_STOP and user.gave_up
    assert user.answer("Are you there?", "") == USER_STOP and stub.calls == 3
    last = stub.requests[-1]["body"]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "You are the user, not the assistant" in last[0]["content"]
    assert last[-1]["content"] == "Booked. Anything else?"
    assert user.usage.calls == 3 and user.usage.input_tokens > 0
    assert user.usage.cost is not None and user.usage.cost > 0
