"""Training with rewards other than the key: noisy feedback and a judge; refusing a judge
that does not agree with the key; advice held back until there is evidence."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage

from reflexrl import (
    BadInputError,
    Judge,
    JudgedRewards,
    Learning,
    ReflexMiddleware,
    RewardTable,
    Suite,
    calibrate_judge,
    load_model,
    train,
)
from reflexrl.loop.config import RunConfig
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.models.judging import tool_descriptions
from reflexrl.prompt import get_renderer
from reflexrl.records import CLARIFY, Episode, Step
from reflexrl.rewards.judge import ChatLabeler
from reflexrl.rewards.training import NoisyKey, training_reward


def _agent(paper: Suite, memory: RewardTable, spec: str = "fake:first"):
    middleware = ReflexMiddleware(memory, epsilon=0.0)
    return create_agent(load_model(spec, paper), paper.tools, middleware=[middleware])


def _says(*labels: str) -> ScriptedChatModel:
    replies = [AIMessage(json.dumps({"label": lab, "reason": "because"})) for lab in labels]
    return ScriptedChatModel(script=replies)


def _episode(index: int, *rewards: float) -> Episode:
    steps = tuple(
        Step(i, "p", CLARIFY if r == 0 else "calculator", {}, r, r > 0)
        for i, r in enumerate(rewards)
    )
    return Episode("run", index, 0, "paper", "q3", "p", False, "valid", steps)


def _relabel(noisy: NoisyKey, episode: Episode) -> Episode:
    return asyncio.run(noisy.relabel(episode))


def test_noisy_feedback_drops_and_flips_rewards_by_a_seeded_draw() -> None:
    episodes = [_episode(i, -1.0, 0.0, 1.0) for i in range(200)]
    relabelled = [_relabel(NoisyKey(0.3, 0.1, seed=4), e) for e in episodes]
    assert relabelled == [_relabel(NoisyKey(0.3, 0.1, seed=4), e) for e in episodes]
    kept = [s for e in relabelled for s in e.steps]
    assert 0.6 < len(kept) / 600 < 0.8  # about 30% missing
    flipped = [s for s in kept if s.action != CLARIFY and s.reward != (1.0 if s.valid else -1.0)]
    assert 0.05 < len(flipped) / len(kept) < 0.2  # about 10% of all flipped
    assert all(s.reward == 0.0 for s in kept if s.action == CLARIFY)  # asking's 0 stays 0
    assert _relabel(NoisyKey(1.0, 0.0), episodes[0]).steps == ()
    negated = _relabel(NoisyKey(0.0, 1.0), episodes[0])
    assert [s.reward for s in negated.steps] == [1.0, 0.0, -1.0]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bogus", "unknown reward 'bogus'"),
        ("judge:", "unknown reward"),
        ("feedback-noise:0.3", "expected two shares"),
        ("feedback-noise:0.3,x", "expected two shares"),
        ("feedback-noise:0.8,0.3", "missing \\+ flipped is more than 1"),
        ("feedback-noise:nan,0.1", "shares must be between 0 and 1"),
        ("judge:local:smollm2", "needs its judge"),
    ],
)
def test_a_bad_reward_spec_names_the_setting(spec: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        training_reward(spec)
    assert caught.value.setting == "reward"


def test_training_with_noisy_feedback_credits_only_the_rewards_that_arrive(
    paper: Suite, tmp_path
) -> None:
    runs = {}
    for reward in ("key", "feedback-noise:1,0", "feedback-noise:0,1"):
        memory = RewardTable(tmp_path / f"{reward}.db")
        result = train(_agent(paper, memory), paper, memory, epochs=1, reward=reward)
        assert RunConfig.from_json(memory.runs()[0].settings).reward == reward
        runs[reward] = (result, {r.prompt: r.reward for r in memory.rows("paper")})
    key, key_rows = runs["key"]
    assert key_rows and any(v < 0 for v in key_rows.values())
    lost, lost_rows = runs["feedback-noise:1,0"]
    assert lost_rows == {} and all(e.steps == () for e in lost.episodes)  # nothing credited
    assert [e.outcome for e in lost.episodes] == [e.outcome for e in key.episodes]  # the key ends
    _, flipped_rows = runs["feedback-noise:0,1"]
    assert flipped_rows == {p: -v for p, v in key_rows.items()}


def test_training_with_a_judge_credits_its_labels_and_counts_its_calls(
    paper: Suite, memory: RewardTable
) -> None:
    # fake:first calls the suite's first tool: valid for one query, so the key says +1
    # there; this judge says wrong_tool to every call.
    judge = Judge(ChatLabeler(_says(*["wrong_tool"] * 30)), tool_descriptions(paper.tools))
    config = RunConfig(epochs=1, reward="judge:scripted")
    result = train(_agent(paper, memory), paper, memory, config, reward_source=JudgedRewards(judge))
    assert any(e.success for e in result.episodes)  # the key still ends the episodes
    assert all(s.reward == -1.0 for e in result.episodes for s in e.steps)
    assert all(r.reward < 0 for r in memory.rows("paper"))
    # the run's usage holds the judge's 30 calls (this agent has no call policy counting its
    # own)
    assert result.usage.calls == judge.usage.calls == len(result.episodes) == 30
    with pytest.raises(BadInputError, match="needs its judge"):
        train(_agent(paper, memory), paper, memory, config)


def test_a_judge_below_the_agreement_asked_is_refused(paper: Suite) -> None:
    tools = tool_descriptions(paper.tools)
    always_right = Judge(ChatLabeler(_says(*["right_tool"] * 6)), tools, name="judge:x")
    calibration = calibrate_judge(always_right, paper, limit=6)
    assert calibration.kappa == pytest.approx(0.0)
    with pytest.raises(BadInputError, match=r"kappa 0\.00 over 6 decisions, below 0\.3"):
        Learning(judge=always_right, min_kappa=0.3, calibration=calibration)
    with pytest.raises(BadInputError, match="no calibration"):
        Learning(judge=always_right, min_kappa=0.3)
    other = Judge(ChatLabeler(_says()), tools, name="judge:y")
    with pytest.raises(BadInputError, match="no calibration"):
        Learning(judge=other, min_kappa=0.3, calibration=calibration)
    with pytest.raises(BadInputError, match="no judge"):
        Learning(min_kappa=0.3)
    assert Learning(judge=always_right, min_kappa=-0.5, calibration=calibration).judge


def test_advice_waits_for_the_evidence_asked(paper: Suite, memory: RewardTable) -> None:
    request = next(p for q, p in paper.prompts() if q == "q3")
    renderer = get_renderer("advice", min_evidence=2)
    step = Step(0, request, "calculator", {}, 1.0, True)
    for n in range(2):
        assert "calculator" not in renderer(memory, "paper", request, False)
        one = Episode("r", n, 0, "paper", "q3", request, False, "valid", (step,))
        memory.record_episode(one, update=True)
    assert "calculator" in renderer(memory, "paper", request, False)
    assert "calculator" in get_renderer("advice")(memory, "paper", request, False)
    guarded = ReflexMiddleware(
        memory, suite="paper", render="advice", learn=Learning(min_evidence=3)
    )
    _, block = guarded.injector.system_parts([HumanMessage(request)], None, ["calculator"])
    assert block is not None and "calculator" not in block  # 2 rewards are not 3
    with pytest.raises(BadInputError, match="advises nothing"):
        get_renderer("paper", min_evidence=1)
    with pytest.raises(BadInputError, match="at least 0"):
        Learning(min_evidence=-1)
    with pytest.raises(BadInputError, match="must be 'ask' or 'try'") as refused:
        Learning(explore="guess")  # type: ignore[arg-type]
    assert refused.value.setting == "explore"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward", "judge"], "error: --reward: unknown reward 'judge'"),
        (["--reward", "feedback-noise:2,0"], "error: --reward: shares must be between 0 and 1"),
        (["--min-kappa", "0.3"], "error: --min-kappa: there is no judge to check"),
    ],
)
def test_train_refuses_a_bad_reward_in_one_line(tmp_path, args: list[str], message: str) -> None:
    done = _cli("train", "--model", "fake:first", "--memory", str(tmp_path / "m.db"), *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(message)
    assert not (tmp_path / "m.db").exists()
