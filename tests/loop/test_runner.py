"""Training and evaluation loops: seeded order, exploration log, failures, the wrap path."""

from __future__ import annotations

from collections import Counter

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage

from reflexrl import (
    BadInputError,
    ReflexMiddleware,
    RewardTable,
    Suite,
    ask_user_for_clarification,
    evaluate,
    load_model,
    train,
    wrap,
)
from reflexrl.envs.exploration import EpsilonSchedule
from reflexrl.envs.users import user_controls, user_patience
from reflexrl.loop.config import RunConfig
from reflexrl.loop.plan import plan, plan_size
from reflexrl.loop.session import describe_error
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.records import INVALID_CALL, ActionStats


def test_plan_visits_every_prompt_once_per_epoch_in_seeded_order(paper: Suite) -> None:
    slots = list(plan(paper, 3, seed=7))
    assert len(slots) == 90 == plan_size(paper, 3) and [s.index for s in slots] == list(range(90))
    for epoch in (1, 2, 3):
        prompts = [s.prompt for s in slots if s.epoch == epoch]
        assert sorted(prompts) == sorted(p for _, p in paper.prompts())
    assert list(plan(paper, 3, seed=7)) == slots and list(plan(paper, 3, seed=8)) != slots
    assert [s.prompt for s in slots[:30]] != [s.prompt for s in slots[30:60]]


def test_a_huge_run_is_planned_lazily(paper: Suite, memory: RewardTable) -> None:
    """10^8 epochs: no plan is built up front, the run starts at once (and stops here when
    the callback raises after three episodes)."""
    agent = _agent(paper, memory, "fake:first")
    seen: list[int] = []

    class EnoughError(Exception):
        pass

    def stop_after_three(record: object) -> None:
        seen.append(1)
        if len(seen) == 3:
            raise EnoughError

    with pytest.raises(EnoughError):
        train(agent, paper, memory, epochs=10**8, max_steps=1, on_episode=stop_after_three)
    assert plan_size(paper, 10**8) == 3 * 10**9 and len(seen) == 3
    assert memory.runs()[-1].epochs == 10**8 and len(memory.episodes(memory.runs()[-1].run_id)) == 3


def test_a_tool_call_with_broken_arguments_is_a_wrong_step(
    paper: Suite, tmp_path, memory: RewardTable
) -> None:
    suite_file = tmp_path / "one.yaml"
    suite_file.write_text(
        paper.path.read_text()
        .split("queries:")[0]
        .replace("../../tools", str(paper.path.parents[2] / "tools"))
        + "queries:\n  - {id: q3, valid_tools: [calculator], prompts: ['add 2 and 2']}\n"
    )
    one = Suite.load(suite_file)
    broken = {"name": "calculator", "args": '{"expression": "2 +', "id": "c", "error": "bad JSON"}
    model = ScriptedChatModel(script=[AIMessage("", invalid_tool_calls=[broken])])
    agent = create_agent(model, one.tools, middleware=[ReflexMiddleware(memory)])
    (episode,) = train(agent, one, memory, epochs=1).episodes
    assert episode.outcome == "invalid_call" and not episode.success
    ((action, reward, valid, args),) = [
        (s.action, s.reward, s.valid, s.args) for s in episode.steps
    ]
    assert (action, reward, valid) == (INVALID_CALL, -1.0, False)
    assert args == {"name": "calculator", "args": '{"expression": "2 +'}
    row = memory.lookup(one.name, "add 2 and 2")
    assert row is not None and row.actions == {INVALID_CALL: ActionStats(1, -1.0)}


def test_a_wrapped_network_error_is_described_by_the_socket_error() -> None:
    class ConnectTimeoutError(Exception):
        pass

    class APITimeoutError(Exception):
        pass

    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    try:
        try:
            raise ConnectTimeoutError("") from refused
        except ConnectTimeoutError as inner:
            raise APITimeoutError("Request timed out.") from inner
    except APITimeoutError as exc:
        described = describe_error(exc)
    assert described == "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 9)"
    assert describe_error(ValueError("plain")) == "ValueError: plain"


def test_epsilon_schedule() -> None:
    decay = EpsilonSchedule(0.1, 0.01)
    assert decay.epsilon(0, 100) == pytest.approx(0.1) and decay.epsilon(99, 100) == pytest.approx(
        0.01
    )
    draws = [EpsilonSchedule(0.2).explores(0, i, 1000) for i in range(1000)]
    assert draws == [EpsilonSchedule(0.2).explores(0, i, 1000) for i in range(1000)]
    assert 150 < sum(draws) < 250
    with pytest.raises(BadInputError, match="not between 0 and 1"):
        EpsilonSchedule(1.5)


def _agent(paper: Suite, memory: RewardTable, spec: str, epsilon: float = 0.0):
    middleware = ReflexMiddleware(memory, epsilon=epsilon)
    return create_agent(load_model(spec, paper), paper.tools, middleware=[middleware])


def test_train_logs_explored_episodes_and_is_reproducible(paper: Suite, tmp_path) -> None:
    runs = []
    for name in ("a", "b"):
        memory = RewardTable(tmp_path / f"{name}.db")
        result = train(_agent(paper, memory, "fake:first", 0.2), paper, memory, epochs=2, seed=3)
        runs.append([(e.prompt, e.explored, e.reward) for e in result.episodes])
        stored = memory.episodes(result.run_id)
        assert [e.explored for e in stored] == [e.explored for e in result.episodes]
        assert all(e.memory_blocks[0].startswith("<reflexrl_memory>") for e in stored)
    assert runs[0] == runs[1]
    assert 0 < sum(explored for _, explored, _ in runs[0]) < 60


def test_a_failed_episode_is_logged_and_the_run_goes_on(paper: Suite, memory: RewardTable) -> None:
    exploded: list[int] = []

    class Boom(ScriptedChatModel):
        def _generate(self, messages, stop=None, run_manager=None, **kw):  # type: ignore[no-untyped-def]
            if len(self.requests) == 3 and not exploded:
                exploded.append(1)
                raise ValueError("provider exploded")
            return super()._generate(messages, stop, run_manager, **kw)

    call = {"name": "create_image", "args": {"description": "x"}, "id": "c"}
    script = [AIMessage("", tool_calls=[call]) for _ in range(40)]
    agent = create_agent(Boom(script=script), paper.tools, middleware=[ReflexMiddleware(memory)])
    result = train(agent, paper, memory, epochs=1, max_steps=1)
    (failure,) = memory.failures(result.run_id)
    assert result.status == "incomplete" and result.unfinished == 1 and failure.index == 3
    assert failure.error == "ValueError: provider exploded"
    assert [e.index for e in result.episodes] == [i for i in range(30) if i != 3]
    assert sum(r.visits for r in memory.rows()) == 29  # the failed episode credited nothing
    assert memory.runs()[-1].status == "incomplete"


def test_evaluate_with_and_without_memory(paper: Suite, memory: RewardTable) -> None:
    agent = _agent(paper, memory, "fake:oracle")
    on = evaluate(agent, paper, use_memory=True, memory="m.db")
    off = evaluate(agent, paper, use_memory=False)
    assert on.metrics.success_rate == off.metrics.success_rate == 1.0
    assert on.memory == "m.db" and off.memory is None
    assert all(e.memory_blocks == () for e in off.episodes)
    assert memory.rows() == [] and memory.runs() == []


def test_wrap_trains_a_built_agent(paper: Suite, memory: RewardTable) -> None:
    built = create_agent(
        load_model("fake:first", paper), [*paper.tools, ask_user_for_clarification]
    )
    agent = wrap(built, memory, epsilon=0.0, render="paper")
    result = train(agent, paper, memory, epochs=2, max_steps=1)
    rewards = Counter(r.reward for r in memory.rows("paper"))
    assert rewards == Counter({2.0: 5, -2.0: 25})
    second = result.episodes[-1]
    assert second.memory_blocks and '"reward": -1}' in second.memory_blocks[0]


def test_origin_credit_remembers_the_tool_that_served_the_rephrase(paper: Suite, memory) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage

    from reflexrl.envs.trajectory import read_trajectory

    first, second = paper.prompts_of("q4")[:2]
    messages = [
        HumanMessage(first),
        AIMessage("", tool_calls=[{"name": "calculator", "args": {}, "id": "1"}]),
        ToolMessage("20", tool_call_id="1", name="calculator"),
        AIMessage("", tool_calls=[{"name": "ask_user_for_clarification", "args": {}, "id": "2"}]),
        ToolMessage(second, tool_call_id="2", name="ask_user_for_clarification"),
        AIMessage("", tool_calls=[{"name": "python_interpreter", "args": {}, "id": "3"}]),
    ]
    current = read_trajectory(messages, "q4", paper.reward_model, 4, "current")
    origin = read_trajectory(messages, "q4", paper.reward_model, 4, "origin")
    assert current.outcome == origin.outcome == "valid"
    assert [s.prompt for s in origin.steps] == [first, first, second]
    assert [s.credit_key for s in current.steps] == [first, first, second]
    assert [s.credit_key for s in origin.steps] == [first, first, first]
    assert [s.reward for s in origin.steps] == [-1.0, 0.0, 1.0]


def test_holdout_prompts_are_never_seen_in_training(paper: Suite, memory: RewardTable) -> None:
    held = {p for _, p in paper.prompts("heldout", 2)}
    assert len(held) == 12 and held.isdisjoint(p for _, p in paper.prompts("train", 2))
    agent = _agent(paper, memory, "fake:clarify")  # asks every time: the user rephrases
    result = train(agent, paper, memory, RunConfig(epochs=2, holdout=2, max_steps=4))
    seen = {s.prompt for e in result.episodes for s in e.steps} | {
        e.prompt for e in result.episodes
    }
    assert len(result.episodes) == 36 and seen.isdisjoint(held)
    assert all(not any(h in b for h in held) for e in result.episodes for b in e.memory_blocks)
    (run,) = memory.runs()
    assert run.settings["holdout"] == 2 and RunConfig.from_json(run.settings).holdout == 2


def test_a_user_with_an_attitude_gives_up_and_ends_the_episode(
    paper: Suite, memory: RewardTable
) -> None:
    agent = _agent(paper, memory, "fake:clarify")  # asks every time
    config = RunConfig(epochs=1, max_steps=10, user="template:impatient")
    result = train(agent, paper, memory, config)
    patience = user_patience(user_controls(attitude="impatient"))
    assert {e.outcome for e in result.episodes} == {"gave_up"}
    assert {len(e.steps) for e in result.episodes} == {patience + 1}  # its answers, then STOP
    (run,) = memory.runs()
    assert RunConfig.from_json(run.settings).user == "template:impatient"
    patient = train(agent, paper, memory, RunConfig(epochs=1, max_steps=10))
    assert {e.outcome for e in patient.episodes} == {"max_steps"}  # the paper's user never leaves
    talks = evaluate(agent, paper, config.with_(epsilon=0.0)).to_json()["conversations"]
    assert talks == {"goal_reached": 0.0, "user_turns": patience + 2, "gave_up": 1.0}


def test_an_llm_user_answers_the_questions_and_its_words_become_the_prompt(
    paper: Suite, memory: RewardTable
) -> None:
    agent = _agent(paper, memory, "fake:clarify")  # asks every time
    said = ["Draw me some dogs.", "Dogs running on a beach, please.", "###STOP###"]
    user = FakeListChatModel(responses=said * 6)
    config = RunConfig(epochs=1, max_steps=4, user="llm:fake:scripted")
    result = train(agent, paper, memory, config, user_model=user)
    first = result.episodes[0]
    assert [s.prompt for s in first.steps] == [first.prompt, *said[:2]]
    assert first.outcome == "gave_up" and {e.outcome for e in result.episodes} == {"gave_up"}
    with pytest.raises(BadInputError, match=r"^user: the user llm:fake:scripted needs its chat"):
        train(agent, paper, memory, config)
    assert len(memory.runs()) == 1  # refused before a run was logged


@pytest.mark.parametrize(("split", "count"), [("heldout", 12), ("train", 18), ("all", 30)])
def test_evaluate_a_split(paper: Suite, memory: RewardTable, split: str, count: int) -> None:
    agent = _agent(paper, memory, "fake:oracle")
    result = evaluate(agent, paper, holdout=2, split=split)
    prompts = {e.prompt for e in result.episodes}
    assert len(result.episodes) == count and result.to_json()["split"] == split
    assert prompts == {p for _, p in paper.prompts(split, 2)}


def test_a_holdout_must_leave_training_prompts(paper: Suite, memory: RewardTable) -> None:
    agent = _agent(paper, memory, "fake:oracle")
    with pytest.raises(BadInputError, match="holdout 5: query q1 of suite paper has 5 prompts"):
        train(agent, paper, memory, holdout=5)
    with pytest.raises(BadInputError, match="split: 'heldout' needs a holdout"):
        evaluate(agent, paper, split="heldout")
    assert memory.runs() == []


def test_run_config_is_logged_and_read_back(paper: Suite, memory: RewardTable) -> None:
    config = RunConfig(epochs=1, seed=3, epsilon=0.2, epsilon_end=0.1, credit="current")
    train(_agent(paper, memory, "fake:first"), paper, memory, config, max_steps=2)
    (run,) = memory.runs()
    logged = RunConfig.from_json(run.settings)
    assert logged == config.with_(max_steps=2) and run.max_steps == 2
    with pytest.raises(BadInputError, match="no setting 'epoch'"):
        config.with_(epoch=3)
    with pytest.raises(BadInputError, match="epochs must be at least 1"):
        RunConfig(epochs=0)
    legacy = {"suite_source": "x.yaml", "epsilon": "0.3", "epsilon_start": 0.3, "render": "paper"}
    assert RunConfig.from_json(legacy) == RunConfig(suite="x.yaml", epsilon=0.3, render="paper")


def test_resume_refuses_another_holdout(paper: Suite, memory: RewardTable) -> None:
    agent = _agent(paper, memory, "fake:oracle")
    first = train(agent, paper, memory, epochs=1, holdout=2, max_failures=1)
    memory.finish_run(first.run_id, "interrupted")
    with pytest.raises(BadInputError, match="holdout"):
        train(agent, paper, memory, epochs=1, holdout=1, resume=first.run_id)
    again = train(agent, paper, memory, epochs=1, holdout=2, resume=first.run_id)
    assert again.status == "completed" and len(again.episodes) == 18
