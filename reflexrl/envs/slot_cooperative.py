"""Curuksu's experiment 2 (sections 3.2, 4.1.3): the user is a PPO policy too.

The user holds an intent, as in experiment 1, but chooses which of its intent's prompts to say,
at the start and again after a clarification or a wrong intent, instead of drawing one
uniformly; it is trained with the same reward as the agent, so the two cooperate (the paper:
100% success and 1.3 steps to the intent, against 99% and 1.8 with the random user).

How the two are trained: by alternation. Each has its own stable-baselines3 PPO and its own
environment in which the other is fixed: the agent's is `PromptChoosingEnv`, the slot-filling
environment whose user's prompts come from the user's current policy; the user's is
`UserEnv`, whose action is the prompt index, whose observation is the intent (one-hot) plus
the dialogue state the user sees (its last prompt, the slots given), and whose step lets the
agent's current policy play until the user must speak again, returning the agent's rewards of
those turns. They take turns, a rollout each (`phase_rollouts`). Why not one joint
environment whose action includes the user's choice: one policy would see one observation, so
either the agent would see the user's intent (and learn nothing about clarifying) or the user
would not see it (and could not pick its intent's prompts); sb3 has no two-policy learner.
Alternating keeps each PPO update on-policy against a partner that does not change during
its rollout, with nothing but sb3 and Gymnasium.

Where the paper leaves the rules open: the user may say the same prompt again (the random user
of experiment 1 always says another; a cooperative user repeats what works); the user explores
by sampling its policy (epsilon-greedy is the agent's, as in `slot_ppo`, its schedule counting
the agent's own interactions); a fixed partner samples its policy too; `dialogues` counts
every dialogue, those the agent learns from and those the user learns from (the agent about
70% of them with the default rollouts: 512 agent turns, then 128 user choices).

    result = train_cooperative(30_000, seed=0)
    first, last = table1(result.run)   # slot_ppo's Table 1 metrics
    result.choice_counts(-5000)         # what the user says, per intent, at the end
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from ..errors import BadInputError
from .slot_filling import INTENTS, SlotFillingEnv
from .slot_ppo import EpsilonCallback, PPOResult, PPOSettings, agent_model, quiet

__all__ = [
    "AgentPolicy",
    "CooperativeResult",
    "CooperativeSettings",
    "PromptChooser",
    "PromptChoosingEnv",
    "UserEnv",
    "train_cooperative",
]

PromptChooser = Callable[[np.ndarray], int | None]
"""The user's policy: its observation -> a prompt index (None: the choice comes later, by
`PromptChoosingEnv.say`)."""

AgentPolicy = Callable[[np.ndarray], np.ndarray]
"""The agent's policy: its observation (the encoded state) -> its two actions."""


class PromptChoosingEnv(SlotFillingEnv):
    """The slot-filling environment whose user's prompts are chosen by a policy.

    At the start and at every rephrasing (a clarification or a wrong intent before the
    intent is named), `chooser` gets `user_observation()` and returns the prompt's index among
    the intent's prompts (taken modulo their number). Without a chooser the user is
    experiment 1's. `info["prompts"]` lists the prompts said so far.

    Args:
        chooser: The user's policy (None: experiment 1's uniform user).
        **kwargs: `SlotFillingEnv`'s parameters.
    """

    def __init__(self, chooser: PromptChooser | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chooser = chooser
        self.awaiting = False
        self._said: list[int] = []
        self._opening = True
        self._prompts = max(len(i.prompts) for i in self.intents)
        size = len(self.intents) + self._prompts + 1 + len(self.slots)
        self.user_space = spaces.Box(0.0, 1.0, (size,), np.float32)

    @property
    def prompt_count(self) -> int:
        """The user's action space size: the most prompts any intent has."""
        return self._prompts

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts a dialogue: an intent drawn uniformly, the opening prompt chosen."""
        super().reset(seed=seed, options=options)
        self._said, self._opening, self.awaiting = [], True, False
        self._choose(fallback=self._prompt)
        return self.observation(), self._info()

    def say(self, prompt: int) -> None:
        """The user says its intent's prompt `prompt` (modulo the intent's prompt count)."""
        self._prompt = int(prompt) % len(self.intents[self._intent].prompts)
        self._said.append(self._prompt)
        self._opening, self.awaiting = False, False

    def observation(self) -> np.ndarray:
        """The agent's observation now (the encoded state text)."""
        return self._observation()

    def user_observation(self) -> np.ndarray:
        """What the user sees: its intent, its last prompt (none at the start), the slots given."""
        vector = np.zeros(self.user_space.shape, np.float32)
        vector[self._intent] = 1.0
        last = self._prompts if self._opening else self._prompt
        vector[len(self.intents) + last] = 1.0
        for slot in self._given:
            vector[len(self.intents) + self._prompts + 1 + slot] = 1.0
        return vector

    def _rephrase(self) -> None:
        if self.chooser is None:
            super()._rephrase()
            self._said.append(self._prompt)
        else:
            self._choose(fallback=None)

    def _choose(self, fallback: int | None) -> None:
        """Asks the chooser; None from it leaves the choice pending (`awaiting`)."""
        choice = fallback if self.chooser is None else self.chooser(self.user_observation())
        if choice is None:
            self.awaiting = True
        else:
            self.say(choice)

    def _info(self) -> dict[str, Any]:
        return {**super()._info(), "prompts": tuple(self._said)}


class UserEnv(gym.Env[np.ndarray, np.int64]):
    """The user's side of a dialogue: say a prompt, then the fixed agent plays.

    The action is the prompt's index among the intent's prompts; the observation is
    `PromptChoosingEnv.user_observation`. A step lets the agent play turns until the user
    must speak again (a clarification or a wrong intent) or the dialogue ends; the reward is
    the sum of the agent's rewards over those turns, so an episode's return is the agent's.
    `info` is the dialogue's (`PromptChoosingEnv`).

    Args:
        agent: The agent's policy, fixed while the user learns (None: set `agent` later).
        **kwargs: `SlotFillingEnv`'s parameters.
    """

    def __init__(self, agent: AgentPolicy | None = None, **kwargs: Any) -> None:
        self.agent = agent
        self.dialogue = PromptChoosingEnv(chooser=lambda _: None, **kwargs)
        self.observation_space = self.dialogue.user_space
        self.action_space = spaces.Discrete(self.dialogue.prompt_count)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts a dialogue: the user holds an intent and is about to speak."""
        super().reset(seed=seed)
        _, info = self.dialogue.reset(seed=seed, options=options)
        return self.dialogue.user_observation(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The user says a prompt; the agent plays until the user's next turn or the end."""
        if self.agent is None:
            raise BadInputError("the user's environment needs an agent policy", setting="agent")
        self.dialogue.say(int(np.asarray(action).reshape(-1)[0]))
        total = 0.0
        while True:
            turn = self.dialogue.step(self.agent(self.dialogue.observation()))
            _, reward, terminated, truncated, info = turn
            total += float(reward)
            if terminated or truncated or self.dialogue.awaiting:
                return self.dialogue.user_observation(), total, terminated, truncated, info


@dataclass(frozen=True)
class CooperativeSettings:
    """An experiment 2 run's settings: the agent's PPO (`PPOSettings`), the user's, the turns.

    Attributes:
        agent: The agent's environment, epsilon and PPO (`PPOSettings`; its `intents` and
            `max_steps` are the dialogues').
        user_n_steps, user_batch_size, user_learning_rate, user_ent_coef, user_net_arch:
            The user's PPO (one step is one prompt the user says: 1 to 3 a dialogue).
        phase_rollouts: Rollouts each learner collects and learns from before the other's turn.
    """

    agent: PPOSettings = field(default_factory=PPOSettings)
    user_n_steps: int = 128
    user_batch_size: int = 32
    user_learning_rate: float = 1e-3
    user_ent_coef: float = 0.01
    user_net_arch: tuple[int, ...] = (32,)
    phase_rollouts: int = 1

    def __post_init__(self) -> None:
        for name in ("user_n_steps", "user_batch_size", "phase_rollouts"):
            if getattr(self, name) < 1:
                raise BadInputError(f"must be at least 1, not {getattr(self, name)}", setting=name)
        if not self.user_learning_rate > 0:
            msg = f"must be positive, not {self.user_learning_rate}"
            raise BadInputError(msg, setting="user_learning_rate")


@dataclass(frozen=True)
class CooperativeResult:
    """One experiment 2 run, dialogue by dialogue, in the order they ended.

    Attributes:
        run: Every dialogue's intent, success, steps to the intent, length and return, as a
            `PPOResult` (`slot_ppo.table1(result.run)` gives Table 1's metrics).
        learner: Who learned from each dialogue: "agent" or "user".
        prompts: The prompt indexes the user said in each dialogue, in order.
        opening: The trained user's probability of each opening prompt, per intent.
        settings: The run's settings.
    """

    run: PPOResult
    learner: tuple[str, ...]
    prompts: tuple[tuple[int, ...], ...]
    opening: dict[str, tuple[float, ...]]
    settings: CooperativeSettings

    def choice_counts(self, start: int = 0, stop: int | None = None) -> dict[str, tuple[int, ...]]:
        """How often the user said each of its intent's prompts, per intent, in a window.

        Args:
            start, stop: The dialogues, read as a Python slice (negative: from the end).
        """
        counts = {i.name: [0] * len(i.prompts) for i in INTENTS if i.name in set(self.run.intents)}
        picked = range(*slice(start, stop).indices(len(self.prompts)))
        for index in picked:
            for prompt in self.prompts[index]:
                counts[self.run.intents[index]][prompt] += 1
        return {name: tuple(values) for name, values in counts.items()}


class _Log(BaseCallback):
    """Records every dialogue that ends, in a list both learners share; stops at `limit`."""

    def __init__(self, rows: list[tuple[Any, ...]], limit: int, learner: str) -> None:
        super().__init__()
        self.rows, self.limit, self.learner = rows, limit, learner

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done and len(self.rows) < self.limit:
                keys = ("intent", "success", "steps_to_intent", "steps", "prompts")
                row = (*(info[k] for k in keys), float(info["episode"]["r"]), self.learner)
                self.rows.append(row)
        return len(self.rows) < self.limit


def train_cooperative(dialogues: int, seed: int, **settings: Any) -> CooperativeResult:
    """Trains the agent and the user, by turns, until `dialogues` dialogues have ended.

    Args:
        dialogues: Dialogues to run, both learners' (the paper: 30,000).
        seed: Seeds both environments, both networks and the exploration.
        **settings: `PPOSettings` fields (the agent's) and `CooperativeSettings` fields.

    Returns:
        Every dialogue's outcome and prompts, and the trained user's opening choices.

    Raises:
        BadInputError: `dialogues` is below 1, or a setting is unknown or unusable.
    """
    if isinstance(dialogues, bool) or not isinstance(dialogues, int) or dialogues < 1:
        msg = f"must be an integer of at least 1, not {dialogues!r}"
        raise BadInputError(msg, setting="dialogues")
    config = _settings(settings)
    rows: list[tuple[Any, ...]] = []
    started, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(config.agent.threads)
    try:
        agent, user, dialogue = _models(config, seed)
        _alternate(agent, user, config, rows, dialogues)
        opening = _opening(user, dialogue)
    finally:
        torch.set_num_threads(threads)
    return _result(seed, config, rows, opening, time.perf_counter() - started)


def _alternate(
    agent: PPO, user: PPO, config: CooperativeSettings, rows: list[Any], dialogues: int
) -> None:
    """A phase of the agent, then one of the user, until the dialogues are done."""
    ppo = config.agent
    epsilon = EpsilonCallback(ppo.epsilon_start, ppo.epsilon_end, ppo.epsilon_interactions)
    agent_log, user_log = _Log(rows, dialogues, "agent"), _Log(rows, dialogues, "user")
    phases = (
        (agent, ppo.n_steps, CallbackList([epsilon, agent_log])),
        (user, config.user_n_steps, user_log),
    )
    while len(rows) < dialogues:
        for model, n_steps, callback in phases:
            if len(rows) < dialogues:
                steps = config.phase_rollouts * n_steps
                model.learn(steps, callback=callback, reset_num_timesteps=False)


def _models(config: CooperativeSettings, seed: int) -> tuple[PPO, PPO, PromptChoosingEnv]:
    """The two learners, each in an environment that plays the other's current policy."""
    ppo = config.agent
    kwargs = {"intents": [i for i in INTENTS if i.name in ppo.intents], "max_steps": ppo.max_steps}
    holder: dict[str, PPO] = {}
    agent_env = PromptChoosingEnv(chooser=lambda obs: _act(holder["user"], obs), **kwargs)
    user_env = UserEnv(agent=lambda obs: np.asarray(_act(holder["agent"], obs)), **kwargs)
    holder["agent"] = agent_model(ppo, agent_env, seed)
    # Another seed: the user's dialogues draw other intents than the agent's.
    holder["user"] = quiet(
        PPO(
            "MlpPolicy",
            user_env,
            n_steps=config.user_n_steps,
            batch_size=config.user_batch_size,
            n_epochs=ppo.n_epochs,
            learning_rate=config.user_learning_rate,
            gamma=ppo.gamma,
            ent_coef=config.user_ent_coef,
            policy_kwargs={"net_arch": list(config.user_net_arch)},
            seed=seed + 1,
            device="cpu",
        )
    )
    return holder["agent"], holder["user"], agent_env


def _act(model: PPO, obs: np.ndarray) -> Any:
    """The fixed partner's move: a sample of its policy (PPO's policy is stochastic)."""
    action, _ = model.predict(obs, deterministic=False)
    return action if np.ndim(action) else int(action)


def _opening(user: PPO, dialogue: PromptChoosingEnv) -> dict[str, tuple[float, ...]]:
    """The user's probability of each opening prompt, per intent."""
    opening = {}
    for index, intent in enumerate(dialogue.intents):
        vector = np.zeros(dialogue.user_space.shape, np.float32)
        vector[[index, len(dialogue.intents) + dialogue.prompt_count]] = 1.0
        obs, _ = user.policy.obs_to_tensor(vector)
        with torch.no_grad():
            distribution = user.policy.get_distribution(obs).distribution
        if not isinstance(distribution, torch.distributions.Categorical):
            raise TypeError(f"the user's policy is not categorical: {distribution!r}")
        probs = distribution.probs[0]
        folded = [0.0] * len(intent.prompts)
        for action, p in enumerate(probs.tolist()):
            folded[action % len(intent.prompts)] += p
        opening[intent.name] = tuple(folded)
    return opening


def _settings(settings: dict[str, Any]) -> CooperativeSettings:
    agent_names = {f.name for f in fields(PPOSettings)}
    own_names = {f.name for f in fields(CooperativeSettings)} - {"agent"}
    unknown = sorted(set(settings) - agent_names - own_names)
    if unknown:
        known = sorted(agent_names | own_names)
        raise BadInputError(f"unknown settings {unknown}; known: {known}", setting="settings")
    tuples = {"intents", "net_arch", "user_net_arch"}
    clean: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in settings.items()}
    agent = PPOSettings(**{k: v for k, v in clean.items() if k in agent_names})
    return CooperativeSettings(agent=agent, **{k: v for k, v in clean.items() if k in own_names})


def _result(
    seed: int,
    config: CooperativeSettings,
    rows: list[tuple[Any, ...]],
    opening: dict[str, tuple[float, ...]],
    seconds: float,
) -> CooperativeResult:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    intents, success, to_intent, steps, prompts, returns, learner = columns
    run = PPOResult(
        seed=seed,
        settings=config.agent,
        intents=tuple(intents),
        success=tuple(success),
        steps_to_intent=tuple(to_intent),
        steps=tuple(steps),
        returns=tuple(returns),
        interactions=sum(steps),
        seconds=seconds,
    )
    return CooperativeResult(run, tuple(learner), tuple(prompts), opening, config)
