"""The slot-filling environment (Curuksu, Appendix A): Gymnasium's checks, the paper's reward
on hand-written dialogues, seeding, bad parameters, and PPO learning on a tiny configuration."""

from __future__ import annotations

import math
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from reflexrl.envs.slot_filling import (
    ENV_ID,
    INTENTS,
    SLOTS,
    Intent,
    Slot,
    SlotFillingEnv,
    SlotRewards,
)
from reflexrl.envs.slot_ppo import (
    EpsilonCallback,
    EpsilonGreedyPolicy,
    play_greedy,
    table1,
    train_ppo,
)
from reflexrl.errors import BadInputError

Turn = tuple[str | None, str | None]


def _env_with_user(intent: str, **kwargs: Any) -> SlotFillingEnv:
    """An environment reset (seeded) until its user holds `intent`."""
    env = SlotFillingEnv(**kwargs)
    for seed in range(100):
        _, info = env.reset(seed=seed)
        if info["intent"] == intent:
            return env
    raise AssertionError(f"no seed below 100 draws {intent}")


def _play(env: SlotFillingEnv, turns: list[Turn]) -> list[tuple[float, bool, bool, dict[str, Any]]]:
    out = []
    for intent, slot in turns:
        _, reward, terminated, truncated, info = env.step(env.action_for(intent, slot))
        out.append((reward, terminated, truncated, info))
    return out


def test_appendix_a() -> None:
    slots = {i.name: set(i.slots) for i in INTENTS}
    assert slots == {
        "/NAVIGATION": set(),
        "/TUTOR/PIANO": {"location", "age", "gender", "when", "how often"},
        "/DOCTOR/DENTIST": {"location", "when"},
        "/PHARMACY/ADVIL": {"location", "when", "how often", "pickup or delivery"},
        "/FOOD/PIZZA": {"when", "pickup or delivery"},
        "/FOOD/DESSERT": {"when", "pickup or delivery"},
    }
    assert len(SLOTS) == 6
    assert all(len(i.prompts) >= 5 for i in INTENTS)
    env = SlotFillingEnv()
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete)
    assert env.action_space.nvec.tolist() == [7, 7]
    assert env.observation_space.shape == (384,)


def test_gymnasium_check_env() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # the brief's unbounded Box
        warnings.filterwarnings("ignore", message=".*render modes.*")
        check_env(SlotFillingEnv())


def test_registered_with_gymnasium() -> None:
    env = gym.make(ENV_ID, max_steps=4)
    obs, info = env.reset(seed=1)
    assert obs.shape == (384,) and obs.dtype == np.float32
    assert set(info) >= {"intent", "success", "steps_to_intent"}
    _, reward, *_ = env.step(np.array([6, 6]))  # clarify, no slot
    assert reward == -1.0
    assert isinstance(env.unwrapped, SlotFillingEnv) and env.unwrapped.max_steps == 4
    env.close()


def test_right_intent_with_its_required_slots() -> None:
    env = _env_with_user("/DOCTOR/DENTIST")
    first, second = _play(env, [("/DOCTOR/DENTIST", "location"), (None, "when")])
    assert first[:3] == (5 + 5 - 1, False, False)
    assert first[3]["steps_to_intent"] == 1
    assert second[:3] == (5 - 1, True, False)
    assert second[3]["success"] and second[3]["steps_to_intent"] == 1


def test_an_intent_without_slots_ends_at_once() -> None:
    env = _env_with_user("/NAVIGATION")
    [(reward, terminated, _, info)] = _play(env, [("/NAVIGATION", None)])
    assert (reward, terminated, info["success"]) == (4.0, True, True)


def test_wrong_intent_costs_and_the_user_rephrases() -> None:
    env = _env_with_user("/FOOD/PIZZA")
    before = env.state_text()
    [(reward, terminated, _, info)] = _play(env, [("/FOOD/DESSERT", None)])
    assert (reward, terminated, info["steps_to_intent"]) == (-6.0, False, None)
    assert env.state_text() != before
    assert env.state_text().split(" Intent:")[0].removeprefix("User: ") in INTENTS[4].prompts


def test_clarification_then_the_right_intent() -> None:
    env = _env_with_user("/FOOD/PIZZA")
    before = env.state_text()
    turns: list[Turn] = [(None, "when"), ("/FOOD/PIZZA", "pickup or delivery")]
    first, second = _play(env, turns)
    assert first[:3] == (0 + 5 - 1, False, False)
    assert env.state_text() != before
    assert second[:3] == (5 + 5 - 1, True, False)
    assert second[3]["steps_to_intent"] == 2 and second[3]["success"]


def test_unrequired_and_repeated_slots_and_intent_cost() -> None:
    env = _env_with_user("/FOOD/PIZZA")
    turns: list[Turn] = [
        (None, "age"),  # not required by pizza
        ("/FOOD/PIZZA", "when"),
        (None, "when"),  # already given
        ("/FOOD/PIZZA", None),  # already named: nothing new
        ("/FOOD/DESSERT", None),  # wrong, even after the right one
    ]
    rewards = [r for r, *_ in _play(env, turns)]
    assert rewards == [-5 - 1, 5 + 5 - 1, -5 - 1, -1, -5 - 1]
    assert "Intent: /FOOD/PIZZA." in env.state_text()


def test_step_limit_truncates() -> None:
    env = _env_with_user("/TUTOR/PIANO", max_steps=3)
    results = _play(env, [(None, None)] * 3)
    assert [r for r, *_ in results] == [-1.0] * 3
    assert [(t, u) for _, t, u, _ in results] == [(False, False), (False, False), (False, True)]
    assert results[-1][3]["success"] is False and results[-1][3]["steps_to_intent"] is None


def test_reward_weights_are_parameters() -> None:
    rewards = SlotRewards(intent=2.0, slot=1.0, step=-0.5)
    env = _env_with_user("/DOCTOR/DENTIST", rewards=rewards)
    assert [r for r, *_ in _play(env, [("/DOCTOR/DENTIST", "age")])] == [2.0 - 1.0 - 0.5]


def test_seeding_makes_resets_identical() -> None:
    def run(seed: int) -> list[Any]:
        env = SlotFillingEnv()
        obs, info = env.reset(seed=seed)
        trace = [obs, info]
        for _ in range(4):  # clarifying draws the user's next prompt from the seeded generator
            obs, reward, *_, info = env.step(np.array([env.clarify, env.no_slot]))
            trace += [obs, reward, info, env.state_text()]
        return trace

    a, b = run(7), run(7)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
    starts = {SlotFillingEnv().reset(seed=s)[1]["intent"] for s in range(20)}
    assert len(starts) > 1


PIZZA = INTENTS[4]


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": True}, "max_steps"),
        ({"max_steps": 2.5}, "max_steps"),
        ({"rewards": (5, 5, -1)}, "rewards"),
        ({"intents": []}, "intents"),
        ({"intents": [PIZZA, PIZZA]}, "intents"),
        ({"intents": [Intent("/X", ("colour",), ("Paint it.",))]}, "intents"),
        ({"intents": [PIZZA, Intent("/Y", (), (PIZZA.prompts[0],))]}, "intents"),
        ({"intents": [Intent("/Z", (), ())]}, "intents"),
        ({"slots": [*SLOTS, SLOTS[0]]}, "slots"),
        ({"slots": [Slot("size", " ")]}, "slots"),
    ],
)
def test_bad_parameters_name_the_parameter(kwargs: dict[str, Any], setting: str) -> None:
    with pytest.raises(BadInputError) as caught:
        SlotFillingEnv(**kwargs)
    assert caught.value.setting == setting
    assert str(caught.value).startswith(f"{setting}: ")


def test_bad_rewards_actions_and_ppo_settings() -> None:
    with pytest.raises(BadInputError, match="rewards"):
        SlotRewards(intent=math.nan)
    env = SlotFillingEnv()
    env.reset(seed=0)
    for action in ([7, 0], [0, -1], [1, 2, 3], "clarify"):
        with pytest.raises(BadInputError, match=r"^action: "):
            env.step(action)
    with pytest.raises(BadInputError, match=r"^intent: "):
        env.action_for("/FOOD/SUSHI", None)
    with pytest.raises(BadInputError, match=r"^settings: .*'epochs'"):
        train_ppo(10, seed=0, epochs=3)
    with pytest.raises(BadInputError, match=r"^dialogues: "):
        train_ppo(0, seed=0)
    with pytest.raises(BadInputError, match=r"^intents: "):
        train_ppo(10, seed=0, intents=["/FOOD/SUSHI"])


def test_epsilon_decays_linearly_over_the_first_interactions() -> None:
    schedule = EpsilonCallback(0.10, 0.01, 60_000)
    values = [schedule.epsilon(t) for t in (0, 30_000, 60_000, 200_000)]
    assert values == pytest.approx([0.10, 0.055, 0.01, 0.01])


def test_epsilon_greedy_executes_and_scores_the_random_action() -> None:
    env = SlotFillingEnv()
    policy = EpsilonGreedyPolicy(env.observation_space, env.action_space, lambda _: 1e-3)
    net = policy.action_net
    assert isinstance(net, torch.nn.Linear)
    with torch.no_grad():
        net.bias[0] = 50.0  # the policy names the first intent, always
    env.action_space.seed(0)
    obs = torch.as_tensor(np.stack([env.reset(seed=0)[0]] * 500))
    with torch.no_grad():
        greedy, _, _ = policy(obs)
        policy.epsilon = 0.5
        mixed, _, log_prob = policy(obs)
        _, expected, _ = policy.evaluate_actions(obs, mixed)
    assert (greedy[:, 0] == 0).all()
    assert 0.3 < (mixed[:, 0] != 0).float().mean() < 0.6  # half explore, 6 in 7 of them move
    assert torch.allclose(log_prob, expected)


def test_ppo_runs_are_reproducible() -> None:
    def run(seed: int) -> tuple[float, ...]:
        return train_ppo(40, seed=seed, intents=["/NAVIGATION", "/FOOD/PIZZA"], n_steps=64).returns

    assert run(3) == run(3) != run(4)


def test_ppo_learns_a_tiny_configuration() -> None:
    intents = ["/NAVIGATION", "/FOOD/PIZZA"]
    env = SlotFillingEnv(intents=[i for i in INTENTS if i.name in intents])
    frozen: list[tuple[int, float]] = []

    def checkpoint(dialogues: int, model: Any) -> None:
        ended = play_greedy(model, env, 7, 20)
        frozen.append((dialogues, sum(i["success"] for i in ended) / 20))

    result = train_ppo(400, seed=0, intents=intents, n_steps=256, every=100, checkpoint=checkpoint)
    assert [d for d, _ in frozen] == [100, 200, 300, 400]
    assert frozen[-1][1] > frozen[0][1]
    assert len(result.success) == 400 and set(result.intents) == set(intents)
    assert result.interactions == sum(result.steps)
    first, last = table1(result, ((0, 100), (-100, None)))
    assert (first.start, first.stop, last.start, last.stop) == (0, 100, 300, 400)
    assert last.success > first.success
    assert last.mean_return > first.mean_return
    assert last.steps_to_intent is not None and last.steps_to_intent < 2.5


def test_two_learners_reset_to_a_runs_dialogue_meet_the_same_user() -> None:
    one, two = SlotFillingEnv(), SlotFillingEnv()
    seen = [(one.reset_dialogue(5, i)[1]["intent"], one.state_text()) for i in range(8)]
    assert [(two.reset_dialogue(5, i)[1]["intent"], two.state_text()) for i in range(8)] == seen
    assert len(set(seen)) > 1
    assert two.reset_dialogue(6, 0)[1]["intent"] != seen[0][0] or two.state_text() != seen[0][1]
