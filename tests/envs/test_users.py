"""Controllable template users (after PolyAI's simulator): validated controls, answers only to
what was asked, the stop token after their patience, style in the wording, seeded."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import ValidationError

from reflexrl.envs.simulated_user import (
    RephrasingUser,
    SimulatedUser,
    UserSpec,
    check_user,
    parse_user,
    suite_user,
)
from reflexrl.envs.slot_filling import SLOTS
from reflexrl.envs.suite import Suite
from reflexrl.envs.trajectory import read_trajectory
from reflexrl.envs.users import (
    ATTITUDES,
    FRAMES,
    PATIENCE,
    TEMPLATES,
    USER_STOP,
    ConversationOutcome,
    Profile,
    Style,
    TemplateUser,
    UserControls,
    UserGoal,
    conversation_outcome,
    first_message,
    user_controls,
)
from reflexrl.errors import BadInputError
from reflexrl.records import CLARIFY

VALUES = {
    "location": "Zq1loc",
    "age": "Zq2age",
    "gender": "Zq3gen",
    "when": "Zq4when",
    "how often": "Zq5often",
    "pickup or delivery": "Zq6pick",
}
REQUEST = "I'm looking for piano lessons."
PIANO = UserGoal(intent="/TUTOR/PIANO", request=REQUEST, details=VALUES)
OFF_SLOT = ["Pizza or dessert?", "Could you say that again?", "What do you mean?", "Hmm."]
QUESTIONS = [s.question for s in SLOTS] + OFF_SLOT + ["When and where?", "Your address?"]
STYLES = [
    Style(verbosity=v, formality=f, grammar=g)
    for v in ("terse", "verbose")
    for f in ("formal", "casual")
    for g in ("grammatical", "colloquial")
]


def _controls(seed: int, **kwargs: Any) -> UserControls:
    rng = random.Random(seed)
    defaults = {"attitude": rng.choice(ATTITUDES), "style": rng.choice(STYLES), "patience": 100}
    return UserControls(**{**defaults, **kwargs})


def test_a_template_user_is_a_simulated_user() -> None:
    user = TemplateUser(PIANO)
    assert isinstance(user, SimulatedUser)
    assert set(TEMPLATES["answer"]) == set(ATTITUDES) == set(PATIENCE)
    assert all(set(kind) == set(ATTITUDES) for kind in TEMPLATES.values())
    assert set(FRAMES) == {(s.verbosity, s.formality) for s in STYLES}


def test_it_never_reveals_a_slot_it_was_not_asked_for() -> None:
    for seed in range(60):
        user = TemplateUser(PIANO, _controls(seed, reveal=0.0), seed=seed)
        assert not any(v in user.first_message() for v in VALUES.values())
        rng = random.Random(seed)
        for question in rng.sample(QUESTIONS, len(QUESTIONS)):
            reply = user.answer(question, "")
            asked = set(user.slots_asked(question))
            leaked = {slot for slot, value in VALUES.items() if value in reply} - asked
            assert not leaked, (seed, question, reply)


def test_it_answers_the_slot_asked() -> None:
    for seed in range(10):
        for slot in SLOTS:
            user = TemplateUser(PIANO, _controls(seed), seed=seed)
            reply = user.answer(slot.question, "")
            assert VALUES[slot.name] in reply
            assert [v for v in VALUES.values() if v in reply] == [VALUES[slot.name]]
    user = TemplateUser(PIANO)
    reply = user.answer("When and where?", "")
    assert VALUES["when"] in reply and VALUES["location"] in reply


def test_unmapped_questions_get_the_request_rephrased() -> None:
    user = TemplateUser(PIANO, UserControls(attitude="confused"), seed=2)
    reply = user.answer("Pizza or dessert?", REQUEST)
    assert REQUEST in reply and reply != REQUEST
    goal = UserGoal(intent="/FOOD/PIZZA", details={"when": "at 7"}, flexibility=0.0)
    assert "know" in TemplateUser(goal).answer("Where are you located?", "")
    assert "Any location" in TemplateUser(goal.model_copy(update={"flexibility": 1.0})).answer(
        "Where are you located?", ""
    )


def test_a_slot_named_in_the_goal_matches_by_its_name() -> None:
    goal = UserGoal(intent="/SHOP/SHOES", details={"shoe_size": "42"})
    assert TemplateUser(goal).slots_asked("What shoe size do you wear?") == ["shoe_size"]
    assert "42" in TemplateUser(goal).answer("What shoe size do you wear?", "")


@pytest.mark.parametrize("attitude", ATTITUDES)
def test_it_stops_at_its_token_after_its_patience(attitude: str) -> None:
    user = TemplateUser(PIANO, UserControls(attitude=attitude, patience=6), seed=1)  # type: ignore[arg-type]
    replies = [user.answer("Hmm?", "") for _ in range(10)]
    stops = replies.index(USER_STOP)
    assert USER_STOP not in replies[:stops] and set(replies[stops:]) == {USER_STOP}
    assert stops == user.patience and user.gave_up
    assert stops == 6 if attitude in ("cooperative", "polite", "confused") else stops < 6


def test_style_controls_change_the_wording() -> None:
    def said(seed: int, **style: str) -> list[str]:
        controls = UserControls(style=Style(**style), patience=20)  # type: ignore[arg-type]
        user = TemplateUser(PIANO, controls, seed=seed)
        return [user.first_message(), *(user.answer(q, "") for q in QUESTIONS[:8])]

    for seed in range(10):
        terse, verbose = said(seed, verbosity="terse"), said(seed, verbosity="verbose")
        assert all(len(v) > len(t) for t, v in zip(terse, verbose, strict=True))
        formal, casual = said(seed, formality="formal"), said(seed, formality="casual")
        assert all("Thank you" in m for m in formal) and not any("Thank you" in m for m in casual)
        assert all("Cheers" in m for m in casual)
        loose = said(seed, formality="formal", grammar="colloquial")
        assert all("Thanks" in m and not m.endswith(".") for m in loose)


def test_seeded_users_say_the_same() -> None:
    def conversation(seed: int) -> list[str]:
        controls = UserControls(
            attitude="polite", style=Style(verbosity="verbose"), reveal=0.5, patience=20
        )
        user = TemplateUser(PIANO, controls, seed=seed)
        return [user.first_message(), *(user.answer(q, "") for q in QUESTIONS)]

    assert conversation(4) == conversation(4)
    assert len({tuple(conversation(s)) for s in range(8)}) > 1
    assert Profile.synthetic(3) == Profile.synthetic(3)
    assert len({Profile.synthetic(s) for s in range(20)}) > 1


def test_reveal_shares_the_first_details() -> None:
    for reveal, shown in ((0.0, 0), (0.5, 3), (0.99, 5), (1.0, 6)):
        message = first_message(PIANO, UserControls(reveal=reveal))
        assert [v for v in VALUES.values() if v in message] == list(VALUES.values())[:shown]
        assert REQUEST in message
    assert "tutor piano" in first_message(UserGoal(intent="/TUTOR/PIANO"), UserControls())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"attitude": "angry"}, "attitude"),
        ({"reveal": 1.5}, "reveal"),
        ({"reveal": -0.1}, "reveal"),
        ({"patience": 0}, "patience"),
        ({"patience": True}, "patience"),
        ({"patience": "3"}, "patience"),
        ({"style": {"verbosity": "long"}}, "style.verbosity"),
        ({"style": {"formality": "rude"}}, "style.formality"),
        ({"style": {"grammar": "poetic"}}, "style.grammar"),
        ({"mood": "happy"}, "mood"),
    ],
)
def test_every_control_is_validated(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        UserControls(**kwargs)
    assert field in {".".join(map(str, e["loc"])) for e in invalid.value.errors()}
    with pytest.raises(BadInputError) as bad:
        user_controls(**kwargs)
    assert bad.value.setting == field and str(bad.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("model", "kwargs", "field"),
    [
        (UserGoal, {"intent": ""}, "intent"),
        (UserGoal, {"intent": "/X", "flexibility": 2}, "flexibility"),
        (UserGoal, {"intent": "/X", "details": {"when": " "}}, "details"),
        (UserGoal, {"intent": "/X", "reason": "?"}, "reason"),
        (Profile, {"name": "A", "age": -1, "location": "B"}, "age"),
        (Profile, {"name": "", "age": 30, "location": "B"}, "name"),
    ],
)
def test_goals_and_profiles_are_validated(model: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        model(**kwargs)
    assert field in {str(e["loc"][0]) for e in invalid.value.errors()}


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        PIANO.intent = "/OTHER"
    assert user_controls(attitude="impatient", reveal=0.5) == UserControls(
        attitude="impatient", reveal=0.5
    )


def test_conversation_outcome() -> None:
    messages: list[BaseMessage] = [
        HumanMessage("I'm looking for piano lessons."),
        AIMessage("", tool_calls=[{"name": CLARIFY, "args": {"question": "?"}, "id": "1"}]),
        ToolMessage("Zq1loc.", name=CLARIFY, tool_call_id="1"),
        AIMessage("", tool_calls=[{"name": CLARIFY, "args": {"question": "?"}, "id": "2"}]),
        ToolMessage(USER_STOP, name=CLARIFY, tool_call_id="2"),
    ]

    def served(history: Any) -> bool:
        return any(
            getattr(m, "tool_calls", None) and m.tool_calls[0]["name"] == PIANO.intent
            for m in history
        )

    outcome = conversation_outcome(messages, PIANO, served)
    assert outcome == ConversationOutcome("/TUTOR/PIANO", goal_reached=False, turns=3, gave_up=True)
    done = [
        *messages[:3],
        AIMessage("", tool_calls=[{"name": PIANO.intent, "args": {}, "id": "3"}]),
    ]
    assert conversation_outcome(done, PIANO, served) == ConversationOutcome(
        "/TUTOR/PIANO", goal_reached=True, turns=2, gave_up=False
    )


def test_a_suite_user_with_an_attitude_rephrases_then_gives_up() -> None:
    prompts = ["Draw dogs on a beach", "Picture of dogs at the seaside", "Dogs running on sand"]
    users = {
        attitude: suite_user(f"template:{attitude}", prompts, random.Random(1), seed=4)
        for attitude in ("cooperative", "impatient")
    }
    said = {a: [u.answer("Which picture?", prompts[0]) for _ in range(8)] for a, u in users.items()}
    for answers in said.values():
        replies = answers[: answers.index(USER_STOP)]  # it gives up, then keeps saying so
        assert set(answers[len(replies) :]) == {USER_STOP}
        assert replies and all(any(p in r and p != r for p in prompts[1:]) for r in replies)
    assert said["impatient"].index(USER_STOP) < said["cooperative"].index(USER_STOP)
    assert isinstance(suite_user("rephrase", prompts, random.Random(1), 0), RephrasingUser)
    with pytest.raises(BadInputError) as raised:
        check_user("template:grumpy")
    assert raised.value.setting == "user"


def test_a_user_spec_takes_controls_after_commas() -> None:
    user = parse_user("template:impatient, patience=8,verbosity=verbose,reveal=0.5")
    assert user.kind == "template" and user.controls == user_controls(
        attitude="impatient", patience=8, reveal=0.5, style={"verbosity": "verbose"}
    )
    llm = parse_user("llm:openai:gpt-4.1-mini,attitude=polite,formality=formal")
    assert llm.kind == "llm" and llm.model == "openai:gpt-4.1-mini"
    assert llm.controls.attitude == "polite" and llm.controls.style.formality == "formal"
    assert parse_user("rephrase") == UserSpec("rephrase")
    prompts = ["Draw dogs on a beach", "Picture of dogs at the seaside"]
    patient = suite_user("template:impatient,patience=20", prompts, random.Random(1), seed=4)
    hasty = suite_user("template:impatient,patience=1", prompts, random.Random(1), seed=4)
    assert [hasty.answer("Which?", prompts[0]) for _ in range(2)][1] == USER_STOP
    assert USER_STOP not in [patient.answer("Which?", prompts[0]) for _ in range(5)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rephrase,patience=2", "no user 'rephrase,patience=2'"),
        ("template:impatient,mood=sad", "'mood=sad' is not a control KEY=VALUE given once"),
        ("template:impatient,patience", "'patience' is not a control KEY=VALUE"),
        ("template:polite,patience=1,patience=2", "'patience=2' is not a control KEY=VALUE given"),
        ("template:impatient,attitude=polite", "'attitude=polite' is not a control"),
        ("template:impatient,patience=x", "patience must be an integer, not 'x'"),
        ("template:impatient,reveal=2", "reveal: Input should be less than or equal to 1"),
        ("llm:local:smollm2,verbosity=loud", "style.verbosity: Input should be 'terse' or"),
        ("llm:local:smollm2,attitude=grumpy", "attitude: Input should be 'cooperative'"),
    ],
)
def test_a_bad_user_spec_names_the_control(spec: str, message: str) -> None:
    with pytest.raises(BadInputError, match=re.escape(message)) as raised:
        check_user(spec)
    assert raised.value.setting == "user"


def test_the_episode_ends_where_the_user_gave_up() -> None:
    ask = AIMessage("", tool_calls=[{"name": CLARIFY, "args": {"question": "?"}, "id": "c1"}])
    wrong = AIMessage("", tool_calls=[{"name": "calculator", "args": {}, "id": "c2"}])
    messages: list[BaseMessage] = [
        HumanMessage("Draw dogs"),
        ask,
        ToolMessage(USER_STOP, tool_call_id="c1", name=CLARIFY),
        wrong,  # what the agent did after the user left is not scored
    ]
    done = read_trajectory(messages, "q1", Suite.load("paper").reward_model, 4)
    assert done.outcome == "gave_up" and [s.action for s in done.steps] == [CLARIFY]
