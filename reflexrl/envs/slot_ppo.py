"""PPO over the slot-filling environment (Curuksu's experiment 1, section 4.1.1, Table 1).

stable-baselines3's PPO learns the actor on the frozen encoder's state; exploration follows
the paper: epsilon-greedy on top of PPO's sampled action, epsilon decaying linearly from 10%
to 1% over the first 60,000 interactions, then staying at 1%.

Epsilon lives in the policy (`EpsilonGreedyPolicy`), set every step by a callback
(`EpsilonCallback`), rather than in a Gymnasium ActionWrapper: PPO stores the action its
policy returned, so a wrapper swapping it behind PPO's back would credit the random action's
reward to the sampled one. In the policy, the executed action is the stored one, with its log
probability under the current policy.

    result = train_ppo(30_000, seed=0)
    first, last = table1(result)   # success and steps to the intent, first / last 5,000
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import mean
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy

from ..errors import BadInputError
from .exploration import EpsilonSchedule
from .slot_filling import DEFAULT_MAX_STEPS, INTENTS, SlotFillingEnv

__all__ = [
    "EpsilonCallback",
    "EpsilonGreedyPolicy",
    "PPOResult",
    "PPOSettings",
    "WindowMetrics",
    "agent_model",
    "play_greedy",
    "quiet",
    "table1",
    "train_ppo",
]

Checkpoint = Callable[[int, BaseAlgorithm], None]
"""Called with the dialogues run so far and the model being trained."""

PAPER_WINDOWS = ((0, 5000), (-5000, None))
"""Table 1's windows: the first and the last 5,000 dialogues."""


@dataclass(frozen=True)
class PPOSettings:
    """A PPO run's settings: the environment, the paper's epsilon, PPO's hyperparameters.

    Attributes:
        intents: Names of Appendix A's intents to use (default: all six).
        max_steps: The environment's step limit.
        epsilon_start, epsilon_end: Epsilon at the first interaction and from
            `epsilon_interactions` on (the paper: 0.10 -> 0.01 over 60,000).
        n_steps, batch_size, n_epochs, learning_rate, gamma, ent_coef: PPO's (sb3's names).
            The paper does not give its PPO's (Intel Coach); 512 steps, 1e-3 and 0.01 learned
            faster than sb3's defaults (2048, 3e-4, 0): 88% vs 68% success in dialogues
            1,250-1,500 of a 1,500-dialogue run (seed 0).
        net_arch: Hidden layers of the actor and of the critic (separate networks).
        threads: torch threads during the run (1: the run shares a small machine).
    """

    intents: tuple[str, ...] = tuple(i.name for i in INTENTS)
    max_steps: int = DEFAULT_MAX_STEPS
    epsilon_start: float = 0.10
    epsilon_end: float = 0.01
    epsilon_interactions: int = 60_000
    n_steps: int = 512
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 1e-3
    gamma: float = 0.99
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (64, 64)
    threads: int = 1

    def __post_init__(self) -> None:
        EpsilonSchedule(self.epsilon_start, self.epsilon_end)  # both in [0, 1]
        for name in ("epsilon_interactions", "n_steps", "batch_size", "n_epochs", "threads"):
            if getattr(self, name) < 1:
                raise BadInputError(f"must be at least 1, not {getattr(self, name)}", setting=name)
        unknown = set(self.intents) - {i.name for i in INTENTS}
        if unknown or not self.intents:
            raise BadInputError(f"unknown intents {sorted(unknown)} or none", setting="intents")


@dataclass(frozen=True)
class PPOResult:
    """One run, dialogue by dialogue, in the order they ended.

    Attributes:
        seed: The run's seed.
        settings: Its settings.
        intents: The user's intent in each dialogue.
        success: Whether the intent was fulfilled (named, every required slot requested).
        steps_to_intent: The turn the intent was first named (None: never).
        steps: The dialogue's length in turns.
        returns: Its accumulated reward (Fig. 2's y axis).
        interactions: Turns in all (the paper: 130,000 to 150,000 for 30,000 dialogues).
        seconds: Wall time of the run.
    """

    seed: int
    settings: PPOSettings
    intents: tuple[str, ...]
    success: tuple[bool, ...]
    steps_to_intent: tuple[int | None, ...]
    steps: tuple[int, ...]
    returns: tuple[float, ...]
    interactions: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values."""
        return asdict(self)


@dataclass(frozen=True)
class WindowMetrics:
    """Table 1's numbers for the dialogues `start` to `stop` of a run.

    Attributes:
        start, stop: The window, as dialogue indexes (stop excluded).
        success: The share of successful dialogues.
        steps_to_intent: Mean steps to the intent over successful dialogues (None: none).
        steps_by_intent: The same per intent (Table 1's rows), for intents with a success.
        mean_return: Mean accumulated reward.
    """

    start: int
    stop: int
    success: float
    steps_to_intent: float | None
    steps_by_intent: dict[str, float]
    mean_return: float


class EpsilonGreedyPolicy(ActorCriticPolicy):
    """PPO's actor-critic; with probability `epsilon`, a uniform random action instead.

    The draws come from the action space's generator, which stable-baselines3 seeds with the
    run. Only sampling in rollouts explores (`forward`, not deterministic); `predict` with
    `deterministic=True` and PPO's updates see the plain policy.
    """

    epsilon: float = 0.0

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        actions, values, log_prob = super().forward(obs, deterministic)
        if deterministic or self.epsilon <= 0.0:
            return actions, values, log_prob
        space = self.action_space
        explore = np.flatnonzero(space.np_random.random(actions.shape[0]) < self.epsilon)
        if explore.size == 0:
            return actions, values, log_prob
        uniform = np.stack([space.sample() for _ in explore])
        actions = actions.clone()
        actions[explore] = torch.as_tensor(uniform, dtype=actions.dtype, device=actions.device)
        _, log_prob, _ = self.evaluate_actions(obs, actions)
        return actions, values, log_prob


class EpsilonCallback(BaseCallback):
    """Sets the policy's epsilon from the interactions so far: linear, then constant."""

    def __init__(self, start: float, end: float, interactions: int) -> None:
        super().__init__()
        self.schedule, self.interactions = EpsilonSchedule(start, end), interactions

    def epsilon(self, interaction: int) -> float:
        """Epsilon at an interaction: `start` at 0, `end` from `interactions` on."""
        done = min(interaction, self.interactions)
        return self.schedule.epsilon(done, self.interactions + 1)

    def _on_training_start(self) -> None:
        self._set()

    def _on_step(self) -> bool:
        self._set()
        return True

    def _set(self) -> None:
        policy = self.model.policy
        if isinstance(policy, EpsilonGreedyPolicy):
            policy.epsilon = self.epsilon(self.num_timesteps)


class _DialogueLog(BaseCallback):
    """Records every dialogue that ends; stops training after `dialogues` of them; calls
    `checkpoint` after every `every` dialogues."""

    def __init__(self, dialogues: int, every: int = 0, checkpoint: Checkpoint | None = None):
        super().__init__()
        self.dialogues, self.every, self.checkpoint = dialogues, every, checkpoint
        self.rows: list[tuple[str, bool, int | None, int, float]] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"], strict=True):
            if done and len(self.rows) < self.dialogues:
                row = (info["intent"], info["success"], info["steps_to_intent"], info["steps"])
                self.rows.append((*row, float(info["episode"]["r"])))
                if self.checkpoint is not None and self.every and len(self.rows) % self.every == 0:
                    self.checkpoint(len(self.rows), self.model)
        return len(self.rows) < self.dialogues


def train_ppo(
    dialogues: int,
    seed: int,
    *,
    every: int = 0,
    checkpoint: Checkpoint | None = None,
    **settings: Any,
) -> PPOResult:
    """Trains PPO on the slot-filling environment for a number of dialogues.

    Args:
        dialogues: Dialogues to run (the paper: 30,000).
        seed: Seeds the environment, the networks and the exploration.
        every: Call `checkpoint` after every `every` dialogues (0: never).
        checkpoint: Called with the dialogues so far and the model (to evaluate it frozen
            with `play_greedy`, for example).
        **settings: `PPOSettings` fields.

    Returns:
        Every dialogue's intent, success, steps to the intent, length and return.

    Raises:
        BadInputError: `dialogues` is below 1, or a setting is unknown or unusable.
    """
    if isinstance(dialogues, bool) or not isinstance(dialogues, int) or dialogues < 1:
        msg = f"must be an integer of at least 1, not {dialogues!r}"
        raise BadInputError(msg, setting="dialogues")
    config = _settings(settings)
    log = _DialogueLog(dialogues, every, checkpoint)
    epsilon = EpsilonCallback(config.epsilon_start, config.epsilon_end, config.epsilon_interactions)
    started, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        model = _model(config, seed)
        # Every dialogue lasts at most max_steps turns; the log stops the run at `dialogues`.
        budget = dialogues * config.max_steps + config.n_steps
        model.learn(total_timesteps=budget, callback=CallbackList([epsilon, log]))
    finally:
        torch.set_num_threads(threads)
    return _result(seed, config, log.rows, time.perf_counter() - started)


def play_greedy(
    model: BaseAlgorithm, env: SlotFillingEnv, seed: int, dialogues: int
) -> list[dict[str, Any]]:
    """Frozen dialogues of a trained agent: its most likely action every turn, no update.

    The dialogues are those `reflexrl.loop.dialogues.play_dialogues` plays for the same
    `seed` (`SlotFillingEnv.reset_dialogue`), so PPO and verbal RL are evaluated on the same users.

    Returns:
        Each dialogue's `info` at its end (`intent`, `success`, `steps_to_intent`, `steps`).
    """
    ended = []
    for index in range(dialogues):
        obs, info = env.reset_dialogue(seed, index)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        ended.append(info)
    return ended


def table1(
    result: PPOResult, windows: Sequence[tuple[int, int | None]] = PAPER_WINDOWS
) -> tuple[WindowMetrics, ...]:
    """Table 1's metrics per window of dialogues.

    Args:
        result: A run.
        windows: (start, stop) pairs read as Python slices of the run's dialogues (negative:
            from the end); default: the first and the last 5,000.

    Returns:
        One `WindowMetrics` per window.
    """
    return tuple(_window(result, *slice(a, b).indices(len(result.success))[:2]) for a, b in windows)


def _settings(settings: dict[str, Any]) -> PPOSettings:
    names = {f.name for f in fields(PPOSettings)}
    unknown = sorted(set(settings) - names)
    if unknown:
        msg = f"unknown settings {unknown}; known: {sorted(names)}"
        raise BadInputError(msg, setting="settings")
    for name in ("intents", "net_arch"):
        if name in settings:
            settings = {**settings, name: tuple(settings[name])}
    return PPOSettings(**settings)


def _model(config: PPOSettings, seed: int) -> PPO:
    intents = [i for i in INTENTS if i.name in config.intents]
    return agent_model(config, SlotFillingEnv(intents=intents, max_steps=config.max_steps), seed)


def agent_model(config: PPOSettings, env: gym.Env[Any, Any], seed: int) -> PPO:
    """The agent's PPO (the epsilon-greedy policy) on `env`, with `config`'s settings."""
    model = PPO(
        EpsilonGreedyPolicy,
        env,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        ent_coef=config.ent_coef,
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return quiet(model)


def quiet(model: PPO) -> PPO:
    """`model` with a logger that writes nowhere: SB3's default makes a directory under the
    temporary folder every time a model starts learning, and nothing reads it."""
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def _result(seed: int, config: PPOSettings, rows: list[Any], seconds: float) -> PPOResult:
    intents, success, to_intent, steps, returns = zip(*rows, strict=True) if rows else [()] * 5
    return PPOResult(
        seed=seed,
        settings=config,
        intents=tuple(intents),
        success=tuple(success),
        steps_to_intent=tuple(to_intent),
        steps=tuple(steps),
        returns=tuple(returns),
        interactions=sum(steps),
        seconds=seconds,
    )


def _window(result: PPOResult, start: int, stop: int) -> WindowMetrics:
    picked = range(start, max(start, stop))
    won = [i for i in picked if result.success[i]]
    by_intent: dict[str, list[int]] = {}
    for i in won:
        by_intent.setdefault(result.intents[i], []).append(result.steps_to_intent[i] or 0)
    return WindowMetrics(
        start=start,
        stop=max(start, stop),
        success=len(won) / len(picked) if picked else 0.0,
        steps_to_intent=mean(result.steps_to_intent[i] or 0 for i in won) if won else None,
        steps_by_intent={k: mean(v) for k, v in by_intent.items()},
        mean_return=float(np.mean([result.returns[i] for i in picked])) if picked else 0.0,
    )
