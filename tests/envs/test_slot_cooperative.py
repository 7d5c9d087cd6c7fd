"""Experiment 2 (Curuksu, section 3.2): the user as a PPO policy choosing its prompts, trained
with the agent's reward; Gymnasium's checks on both sides, and tiny runs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO

from reflexrl.envs.slot_cooperative import PromptChoosingEnv, UserEnv, train_cooperative
from reflexrl.envs.slot_filling import INTENTS, SlotFillingEnv
from reflexrl.envs.slot_ppo import quiet, table1
from reflexrl.errors import BadInputError

FOOD = [INTENTS[4], INTENTS[5]]  # pizza and dessert: their prompts differ by a word or two
CLEAR = {"I want a pizza.": "/FOOD/PIZZA", "I want an ice cream.": "/FOOD/DESSERT"}
TINY_INTENTS = ["/NAVIGATION", "/FOOD/PIZZA", "/FOOD/DESSERT"]


class ZeroEncoder:
    """A stand-in for MiniLM: the scripted agents read the state text, not the vector."""

    dimensions = 4

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dimensions), np.float32)


def _prompt(env: SlotFillingEnv) -> str:
    return env.state_text().split(" Intent:")[0].removeprefix("User: ")


def _picky_agent(env: SlotFillingEnv) -> Any:
    """Names the intent only on its one clear prompt (else clarifies); asks the food slots."""

    def act(_: np.ndarray) -> np.ndarray:
        text = env.state_text()
        slot = "when" if "When do" not in text else "pickup or delivery"
        if "not named yet" not in text:
            return env.action_for(None, slot)
        intent = CLEAR.get(_prompt(env))
        return env.action_for(intent, slot if intent else None)

    return act


def _quiet_check(env: Any) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")
        warnings.filterwarnings("ignore", message=".*render modes.*")
        check_env(env)


def test_both_sides_pass_gymnasium_checks() -> None:
    _quiet_check(PromptChoosingEnv(chooser=lambda obs: 1, intents=FOOD, encoder=ZeroEncoder()))
    user = UserEnv(intents=FOOD, encoder=ZeroEncoder())
    user.agent = _picky_agent(user.dialogue)
    _quiet_check(user)
    obs, _ = user.reset(seed=0)
    assert obs.shape == (2 + 5 + 1 + 6,) and obs[:2].sum() == 1 and obs[2 + 5] == 1


def test_without_a_chooser_the_user_is_experiment_1s() -> None:
    def trace(env: SlotFillingEnv) -> list[str]:
        env.reset(seed=5)
        texts = [env.state_text()]
        for _ in range(4):
            env.step(env.action_for(None, None))
            texts.append(env.state_text())
        return texts

    assert trace(PromptChoosingEnv(encoder=ZeroEncoder())) == trace(
        SlotFillingEnv(encoder=ZeroEncoder())
    )


def test_the_chooser_picks_every_prompt_said() -> None:
    seen: list[np.ndarray] = []

    def chooser(obs: np.ndarray) -> int:
        seen.append(obs)
        return 4  # "I want a pizza." / "I want an ice cream."

    env = PromptChoosingEnv(chooser=chooser, intents=FOOD, encoder=ZeroEncoder())
    _, info = env.reset(seed=0)
    assert _prompt(env) in CLEAR and info["prompts"] == (4,)
    _, _, _, _, info = env.step(env.action_for(None, "when"))  # clarify: the user speaks again
    assert info["prompts"] == (4, 4) and len(seen) == 2
    assert seen[0][2 + 5] == 1  # the opening: no last prompt
    assert seen[1][2 + 4] == 1 and seen[1][2 + 6 + 3] == 1  # said prompt 4; gave "when"


def test_the_users_reward_is_the_agents() -> None:
    user = UserEnv(intents=FOOD, max_steps=6, encoder=ZeroEncoder())
    user.agent = _picky_agent(user.dialogue)
    choices, total, done = [0, 2, 4, 1], 0.0, False
    _, info = user.reset(seed=3)
    for choice in choices:
        _, reward, terminated, truncated, info = user.step(choice)
        total += reward
        if done := terminated or truncated:
            break
    assert done and info["prompts"] == (0, 2, 4)
    # The same dialogue, the agent's side: the same prompts, every turn's reward summed.
    replay = iter(choices)
    agent_env = PromptChoosingEnv(
        chooser=lambda _: next(replay), intents=FOOD, max_steps=6, encoder=ZeroEncoder()
    )
    agent = _picky_agent(agent_env)
    obs, _ = agent_env.reset(seed=3)
    rewards = []
    while True:
        obs, reward, terminated, truncated, _ = agent_env.step(agent(obs))
        rewards.append(reward)
        if terminated or truncated:
            break
    assert total == sum(rewards) == (-1 - 1) + (5 + 5 - 1) + (5 - 1)


def test_the_user_learns_what_the_agent_understands() -> None:
    env = UserEnv(intents=FOOD, max_steps=6, encoder=ZeroEncoder())
    env.agent = _picky_agent(env.dialogue)
    model = quiet(PPO("MlpPolicy", env, n_steps=64, batch_size=32, learning_rate=3e-3, seed=0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.learn(640)
    finally:
        torch.set_num_threads(threads)
    for index in range(len(FOOD)):
        obs = np.zeros(env.dialogue.user_space.shape, np.float32)
        obs[[index, 2 + 5]] = 1.0  # the intent, at the opening
        action, _ = model.predict(obs, deterministic=True)
        assert FOOD[index].prompts[int(action)] in CLEAR


def test_cooperative_training_changes_what_the_user_says() -> None:
    result = train_cooperative(400, seed=0, intents=TINY_INTENTS, n_steps=128)
    run = result.run
    assert len(run.success) == len(result.prompts) == len(result.learner) == 400
    assert set(result.learner) == {"agent", "user"}
    assert set(run.intents) == set(TINY_INTENTS)
    counts = result.choice_counts()
    assert sum(map(sum, counts.values())) == sum(map(len, result.prompts))
    assert all(len(p) >= 1 for p in result.prompts)
    assert set(result.opening) == set(TINY_INTENTS)
    for probabilities in result.opening.values():
        assert sum(probabilities) == pytest.approx(1.0)
    moved = max(abs(p - 0.2) for ps in result.opening.values() for p in ps)
    assert moved > 0.02  # uniform is 0.2 for each of the five prompts
    first, last = table1(run, ((0, 100), (-100, None)))
    assert last.mean_return > first.mean_return


def test_cooperative_runs_are_reproducible() -> None:
    def run(seed: int) -> tuple[Any, ...]:
        result = train_cooperative(60, seed=seed, intents=["/FOOD/PIZZA"], n_steps=64)
        return result.run.returns, result.prompts, result.learner

    assert run(1) == run(1) != run(2)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"epochs": 3}, "settings"),
        ({"user_n_steps": 0}, "user_n_steps"),
        ({"phase_rollouts": 0}, "phase_rollouts"),
        ({"user_learning_rate": 0.0}, "user_learning_rate"),
        ({"intents": ["/FOOD/SUSHI"]}, "intents"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, Any], setting: str) -> None:
    with pytest.raises(BadInputError) as caught:
        train_cooperative(10, seed=0, **kwargs)
    assert caught.value.setting == setting
    with pytest.raises(BadInputError, match=r"^dialogues: "):
        train_cooperative(0, seed=0)
