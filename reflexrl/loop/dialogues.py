"""Verbal RL on Curuksu's slot-filling environment: the reflexrl agent plays its dialogues.

The same environment, seeds and measures as PPO (`reflexrl.envs.slot_ppo`), with the
memory in the prompt instead of weights. Every turn is one request with its own tools
(`EpisodeContext.offered`): one tool per intent, one per slot question (`slot_<name>`), and
the middleware's `ask_user_for_clarification`. The request is the dialogue's state as text
(`request_text`), so the memory is keyed by it.

The agent takes one action a turn, where PPO takes two at once (an intent or clarifying, and
a slot or none): a tool call is one of them, the other being "none" for an intent and
"clarify" for a slot question (which, before the intent is named, makes the user rephrase,
as clarifying does). So the steps to the intent compare with PPO's, and a dialogue's length
does not: each required slot costs a turn of its own.

Each turn is an episode of its own (a request and the agent's one decision), credited as
soon as it is taken: the memory is refreshed after every turn, as after every episode of
`train`, so a slot that earned -1 is not advised again in the same dialogue. Its reward is
the environment's reward without the step cost, over its weight: +1 for the user's intent
(first named) or a required slot not yet given, -1 for a wrong intent or slot, 0 for
clarifying or naming the intent again (reflexrl's own scale), credited to the turn's state.
The epsilon reset is drawn once per dialogue.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable

from ..envs.context import EpisodeContext
from ..envs.items import ItemTool
from ..envs.simulated_user import RephrasingUser
from ..errors import BadInputError
from ..memory import MemoryStore
from ..records import DECLINE, Episode, Outcome, RunInfo, Step
from ..rewards.answer_key import ToolMappingReward

if TYPE_CHECKING:  # the environment needs the `rl` extra (gymnasium): imported when played
    from ..envs.slot_filling import Intent, Slot, SlotFillingEnv

__all__ = [
    "SLOT_SUITE",
    "DialogueRun",
    "intent_tool_name",
    "play_dialogues",
    "request_text",
    "slot_tool_name",
]

SLOT_SUITE = "slot-filling"
"""The memory namespace of the slot-filling dialogues."""


@dataclass(frozen=True)
class DialogueRun:
    """Dialogues played, in order: the fields `reflexrl.envs.slot_ppo.table1` reads.

    Attributes:
        seed: The run's seed (the environment's first reset).
        run_id: The run in the memory's log.
        intents: The user's intent in each dialogue.
        success: Whether the intent was fulfilled (named, every required slot requested).
        steps_to_intent: The turn the intent was first named (None: never).
        steps: Each dialogue's length in turns.
        returns: Each dialogue's environment return (the paper's rewards, step cost included).
        actions: Each dialogue's actions (tool names).
        seconds: Wall time.
    """

    seed: int
    run_id: str
    intents: tuple[str, ...]
    success: tuple[bool, ...]
    steps_to_intent: tuple[int | None, ...]
    steps: tuple[int, ...]
    returns: tuple[float, ...]
    actions: tuple[tuple[str, ...], ...]
    seconds: float

    @property
    def interactions(self) -> int:
        """Turns in all."""
        return sum(self.steps)


def intent_tool_name(intent: Intent) -> str:
    """The tool that names an intent: `/FOOD/PIZZA` -> `food_pizza`."""
    return re.sub(r"[^a-z0-9]+", "_", intent.name.lower()).strip("_")


def slot_tool_name(slot: Slot) -> str:
    """The tool that asks for a slot: `pickup or delivery` -> `slot_pickup_or_delivery`."""
    # Not `request_` or `ask_`: a 135M model reads those as asking for clarification and,
    # advised `request_age`, asked instead (followed advice 21 of 24 times; `slot_`: 24 of 24).
    return "slot_" + re.sub(r"[^a-z0-9]+", "_", slot.name.lower()).strip("_")


def request_text(env: SlotFillingEnv) -> str:
    """What the agent reads as the turn's request, and the memory's key for it: the user's
    words and the slots answered while the intent is not named; once it is, the intent and
    the slots answered (the opening words no longer matter: PPO's encoder sees them and
    learns to ignore them; a memory keyed by them would learn each slot once per prompt)."""
    said, named, answered = env.state()
    questions = " ".join(answered) or "-"
    if named is None:
        return f"User: {said} Answered: {questions}"
    return f"Intent: {named}. Answered: {questions}"


def turn_tools(env: SlotFillingEnv) -> tuple[dict[str, Any], ...]:
    """The tools offered every turn (OpenAI function specs): intents, then slot questions."""
    tools = [
        ItemTool(name=intent_tool_name(i), description=i.description or f"The user wants {i.name}.")
        for i in env.intents
    ]
    tools += [
        ItemTool(name=slot_tool_name(s), description=f"Ask the user: {s.question}")
        for s in env.slots
    ]
    return tuple(t.to_openai() for t in tools)


def play_dialogues(
    agent: Runnable[Any, Any],
    memory: MemoryStore,
    dialogues: int,
    *,
    seed: int = 0,
    frozen: bool = False,
    use_memory: bool = True,
    env: SlotFillingEnv | None = None,
    model: str = "",
    settings: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DialogueRun:
    """Play `dialogues` dialogues of the slot-filling environment with `agent`.

    Args:
        agent: A `create_agent` graph with `ReflexMiddleware` over `memory` and no tools
            of its own (`reflexrl.agent.build_dialogue_agent`).
        memory: The store the dialogues are logged in (and, unless `frozen`, credited).
        dialogues: How many to play.
        seed: Seeds the environment (users, intents, prompts) and the epsilon resets.
        frozen: Log the dialogues without crediting them, and explore never.
        use_memory: Show the memory (False: the 'memory off' baseline).
        env: The environment (default: Appendix A's).
        model: The model's spec, for the run's log.
        settings: What else the run's log should say of its settings.
        progress: Called with each dialogue's index once it ends.

    Raises:
        BadInputError: `dialogues` is below 1.
    """
    if isinstance(dialogues, bool) or not isinstance(dialogues, int) or dialogues < 1:
        raise BadInputError(
            f"must be an integer of at least 1, not {dialogues!r}", setting="dialogues"
        )
    if env is None:
        from ..envs.slot_filling import SlotFillingEnv  # noqa: PLC0415  (the rl extra)

        env = SlotFillingEnv()
    run_id = f"slots-{uuid.uuid4().hex[:12]}"
    info = {**(settings or {}), "frozen": frozen, "use_memory": use_memory, "dialogues": dialogues}
    memory.start_run(RunInfo(run_id, SLOT_SUITE, model, seed, 1, env.max_steps, info))
    game = _Game(agent, memory, env, run_id, seed, dialogues, frozen, use_memory)
    started, played = time.perf_counter(), []
    status = "interrupted"
    try:
        for index in range(dialogues):
            played.append(game.play(index))
            if progress is not None:
                progress(index)
        status = "completed"
    finally:
        memory.finish_run(run_id, status)
    return _run(seed, run_id, played, time.perf_counter() - started)


@dataclass(frozen=True)
class _Played:
    intent: str
    success: bool
    steps_to_intent: int | None
    steps: int
    ret: float
    actions: tuple[str, ...]


@dataclass
class _Game:
    """One run's dialogues: the environment, and the agent's turns in it."""

    agent: Runnable[Any, Any]
    memory: MemoryStore
    env: SlotFillingEnv
    run_id: str
    seed: int
    total: int
    frozen: bool
    use_memory: bool

    def __post_init__(self) -> None:
        self.tools = turn_tools(self.env)
        self.actions: dict[str, tuple[str | None, str | None]]
        self.actions = {intent_tool_name(i): (i.name, None) for i in self.env.intents}
        self.actions |= {slot_tool_name(s): (None, s.name) for s in self.env.slots}
        # Never asked: the turn's tools are only schemas, the agent stops at its decision.
        self.user = RephrasingUser([""], random.Random(0))
        self.reward_model = ToolMappingReward(
            {i.name: frozenset({intent_tool_name(i)}) for i in self.env.intents}
        )

    def play(self, index: int) -> _Played:
        """One dialogue; each turn logged (and credited unless frozen) once it is taken."""
        _, info = self.env.reset_dialogue(self.seed, index)
        intent = info["intent"]
        actions: list[str] = []
        ret, done = 0.0, False
        while not done:
            state = request_text(self.env)
            ctx = self._context(intent, index)
            action = self._decide(state, ctx)
            reward, done, info = self._step(action)
            ret += reward
            credit = self._credit(action, reward)
            step = Step(0, state, action, {}, credit, credit > 0)
            turn = index * self.env.max_steps + len(actions)
            outcome: Outcome = "valid" if credit > 0 else "max_steps"
            episode = Episode(
                self.run_id, turn, 0, SLOT_SUITE, intent, state, ctx.explored, outcome,
                (step,), memory_blocks=tuple(ctx.memory_blocks),
            )  # fmt: skip
            self.memory.record_episode(episode, update=not self.frozen)
            actions.append(action)
        return _Played(
            intent, info["success"], info["steps_to_intent"], info["steps"], ret, tuple(actions)
        )

    def _context(self, intent: str, index: int) -> EpisodeContext:
        # Every turn of a dialogue draws the same epsilon reset: the draw is seeded by
        # (seed, dialogue), so a dialogue explores as a whole, as a training episode does.
        return EpisodeContext(
            suite=SLOT_SUITE,
            query=intent,
            seed=self.seed,
            index=index,
            total=self.total,
            max_steps=1,
            reward_model=self.reward_model,
            user=self.user,
            frozen=self.frozen,
            use_memory=self.use_memory,
            offered=self.tools,
            declines=False,
        )

    def _decide(self, state: str, ctx: EpisodeContext) -> str:
        """The agent's action on one state: the tool it called (DECLINE: none)."""
        try:
            output = self.agent.invoke({"messages": [HumanMessage(state)]}, ctx.config())
        finally:
            ctx.close()
        messages = output["messages"] if isinstance(output, dict) else output
        reply = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        calls = reply.tool_calls if reply is not None else []
        return str(calls[0]["name"]) if calls else DECLINE

    def _step(self, action: str) -> tuple[float, bool, dict[str, Any]]:
        """The environment's turn for a tool name; anything else (asking, no tool, an
        unknown name) clarifies without a slot."""
        intent, slot = self.actions.get(action, (None, None))
        _, reward, terminated, truncated, info = self.env.step(self.env.action_for(intent, slot))
        return float(reward), terminated or truncated, info

    def _credit(self, action: str, reward: float) -> float:
        """The memory's reward: the turn's intent or slot component over its weight."""
        component = reward - self.env.rewards.step
        if action not in self.actions or component == 0:
            return 0.0
        weights = self.env.rewards
        weight = weights.intent if self.actions[action][0] is not None else weights.slot
        return component / weight


def _run(seed: int, run_id: str, played: Sequence[_Played], seconds: float) -> DialogueRun:
    return DialogueRun(
        seed=seed,
        run_id=run_id,
        intents=tuple(p.intent for p in played),
        success=tuple(p.success for p in played),
        steps_to_intent=tuple(p.steps_to_intent for p in played),
        steps=tuple(p.steps for p in played),
        returns=tuple(p.ret for p in played),
        actions=tuple(p.actions for p in played),
        seconds=seconds,
    )
