"""Verbal RL on the slot-filling environment: the agent's turns, their rewards and credits,
what each model call is offered, frozen runs, and the memory block a later dialogue reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from langchain_core.messages import BaseMessage

from reflexrl import open_memory
from reflexrl.agent.build import build_dialogue_agent
from reflexrl.envs.slot_filling import INTENTS, SLOTS, Intent, SlotFillingEnv
from reflexrl.envs.trajectory import current_prompt
from reflexrl.errors import BadInputError
from reflexrl.loop.dialogues import (
    SLOT_SUITE,
    intent_tool_name,
    play_dialogues,
    request_text,
    slot_tool_name,
)
from reflexrl.models.action import ActionChatModel
from reflexrl.records import CLARIFY

INTENT_OF = {p: i for i in INTENTS for p in i.prompts}
NAMED = {i.name: i for i in INTENTS}
SLOT_NAMED = {s.name: s for s in SLOTS}


def _intent(messages: Sequence[BaseMessage]) -> Intent:
    """The user's intent, read from the turn's request (`request_text`)."""
    text = current_prompt(messages) or ""
    if text.startswith("User: "):
        return INTENT_OF[text.removeprefix("User: ").split(" Answered: ")[0]]
    return NAMED[text.removeprefix("Intent: ").split(". Answered: ")[0]]


class EnvOracle(ActionChatModel):
    """Names the user's intent, then asks its required slots in order; records the tools
    each call was offered. A test double: it reads the state text, not the memory."""

    offered: list[list[str]]
    blocks: list[str]

    @property
    def _llm_type(self) -> str:
        return "env-oracle"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        self.offered.append([t["name"] for t in self.bound_tools])
        self.blocks.append(str(messages[0].content))
        state = current_prompt(messages) or ""
        intent = _intent(messages)
        if state.startswith("User: "):
            return intent_tool_name(intent)
        answered = state.split("Answered: ")[1]
        missing = [s for s in intent.slots if SLOT_NAMED[s].question not in answered]
        return slot_tool_name(SLOT_NAMED[missing[0]]) if missing else CLARIFY


class Clarifier(ActionChatModel):
    """Always asks."""

    @property
    def _llm_type(self) -> str:
        return "clarifier"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        return CLARIFY


def test_an_agent_that_knows_the_intents_fulfils_every_dialogue(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "m.db")
    model = EnvOracle(offered=[], blocks=[])
    run = play_dialogues(build_dialogue_agent(model, memory), memory, 12, seed=3)
    assert all(run.success) and set(run.steps_to_intent) == {1}
    for intent_name, steps, ret in zip(run.intents, run.steps, run.returns, strict=True):
        intent = next(i for i in INTENTS if i.name == intent_name)
        # one turn for the intent and one per required slot, each +5 and -1 a step
        assert steps == 1 + len(intent.slots)
        assert ret == pytest.approx(4.0 * steps)
    expected = sorted([intent_tool_name(i) for i in INTENTS] + [slot_tool_name(s) for s in SLOTS])
    assert all(sorted(o) == sorted([*expected, CLARIFY]) for o in model.offered)
    rows = memory.rows(SLOT_SUITE)
    assert rows and all(r.best_action() != CLARIFY for r in rows)
    assert all(a.mean == 1.0 for r in rows for a in r.actions.values())
    assert sum(a.n for r in rows for a in r.actions.values()) == run.interactions


class Wrong(ActionChatModel):
    """A wrong intent, then a slot the user's intent does not require, and so on."""

    turns: list[str]

    @property
    def _llm_type(self) -> str:
        return "wrong"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        intent = _intent(messages)
        self.turns.append(intent.name)
        if len(self.turns) % 2:
            return intent_tool_name(next(i for i in INTENTS if i is not intent))
        unrequired = [s for s in SLOTS if s.name not in intent.slots]
        return slot_tool_name(unrequired[0])


def test_wrong_intents_and_slots_are_credited_minus_one(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "m.db")
    env = SlotFillingEnv(max_steps=3)
    run = play_dialogues(build_dialogue_agent(Wrong(turns=[]), memory), memory, 4, env=env)
    assert not any(run.success) and set(run.steps) == {3}
    assert all(r == pytest.approx(-6.0 * 3) for r in run.returns)  # -5 and -1 a turn
    credits = [a for r in memory.rows(SLOT_SUITE) for a in r.actions.values()]
    assert credits and all(a.mean == -1.0 for a in credits)
    kinds = {a for r in memory.rows(SLOT_SUITE) for a in r.actions}
    assert any(k.startswith("slot_") for k in kinds) and any(
        not k.startswith("slot_") for k in kinds
    )


def test_a_frozen_run_credits_nothing_and_reads_what_training_learned(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "m.db")
    play_dialogues(build_dialogue_agent(EnvOracle(offered=[], blocks=[]), memory), memory, 6)
    before = [r.to_json() for r in memory.rows(SLOT_SUITE)]
    reader = EnvOracle(offered=[], blocks=[])
    run = play_dialogues(build_dialogue_agent(reader, memory, epsilon=0.0), memory, 6, frozen=True)
    after = [r.to_json() for r in memory.rows(SLOT_SUITE)]
    assert [{**r, "updated_at": None} for r in after] == [{**r, "updated_at": None} for r in before]
    assert all(run.success)
    assert any("Best action so far:" in block for block in reader.blocks)


def test_memory_off_shows_no_block_and_a_clarifier_never_succeeds(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "m.db")
    agent = build_dialogue_agent(Clarifier(), memory)
    run = play_dialogues(agent, memory, 3, use_memory=False, env=SlotFillingEnv(max_steps=4))
    assert not any(run.success) and set(run.steps) == {4}
    assert run.steps_to_intent == (None, None, None)
    assert all(a.mean == 0.0 for r in memory.rows(SLOT_SUITE) for a in r.actions.values())
    assert [r.status for r in memory.runs()] == ["completed"]


@pytest.mark.parametrize("dialogues", [0, -1, 2.5, True])
def test_bad_dialogue_counts_are_refused(tmp_path: Path, dialogues: object) -> None:
    memory = open_memory(tmp_path / "m.db")
    with pytest.raises(BadInputError, match="at least 1"):
        play_dialogues(build_dialogue_agent(Clarifier(), memory), memory, dialogues)  # type: ignore[arg-type]


class Stubborn(ActionChatModel):
    """Names the intent, then asks for a slot it does not need, again and again; keeps the
    memory block of each call."""

    blocks: list[str]

    @property
    def _llm_type(self) -> str:
        return "stubborn"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        self.blocks.append(str(messages[0].content))
        intent = _intent(messages)
        if (current_prompt(messages) or "").startswith("User: "):
            return intent_tool_name(intent)
        return slot_tool_name(next(s for s in SLOTS if s.name not in intent.slots))


def test_each_turn_is_credited_before_the_next_one_reads_the_memory(tmp_path: Path) -> None:
    memory = open_memory(tmp_path / "m.db")
    model = Stubborn(blocks=[])
    env = SlotFillingEnv(max_steps=3)
    run = play_dialogues(build_dialogue_agent(model, memory, epsilon=0.0), memory, 1, env=env)
    slot = run.actions[0][1]
    assert run.actions[0][2] == slot and run.steps_to_intent == (1,)
    assert "No reward recorded" in model.blocks[1]
    assert f"- {slot}: chosen 1x, mean reward -1" in model.blocks[2]
    assert len(memory.episodes(run.run_id)) == 3  # a turn is an episode


def test_the_request_is_the_users_words_until_the_intent_is_named() -> None:
    env = SlotFillingEnv()
    env.reset(seed=0)
    said, named, answered = env.state()
    assert named is None and answered == ()
    assert request_text(env) == f"User: {said} Answered: -"
    intent = next(i for i in INTENTS if said in i.prompts)
    env.step(env.action_for(intent.name, intent.slots[0] if intent.slots else None))
    question = [s.question for s in SLOTS if intent.slots and s.name == intent.slots[0]]
    assert request_text(env) == f"Intent: {intent.name}. Answered: {' '.join(question) or '-'}"
