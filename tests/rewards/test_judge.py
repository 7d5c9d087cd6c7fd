"""The judge model: labels per decision, over a fake model and over real HTTP with a JSON
schema; failures counted and crediting nothing; calibration against the answer key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from stub_provider import StubProvider

from reflexrl import Learning, ReflexMiddleware, Suite, feedback, load_judge, wait_for_judges
from reflexrl.loop.calibrate import calibrate_judge, expected_labels
from reflexrl.memory import MemoryStore
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.models.judging import tool_descriptions
from reflexrl.records import CLARIFY, Decision, PendingEpisode
from reflexrl.rewards.judge import (
    RUBRIC_VERSION,
    TOOL_LABELS,
    ChatLabeler,
    Judge,
    judgment_schema,
)

REQUEST = "Calculate the result of the mathematical expression: 5 plus 5 plus 10"


def _says(*labels: str) -> ScriptedChatModel:
    replies = [AIMessage(json.dumps({"label": lab, "reason": "because"})) for lab in labels]
    return ScriptedChatModel(script=replies)


def _episode(*actions: str) -> PendingEpisode:
    made = tuple(Decision(i, REQUEST, a, {}) for i, a in enumerate(actions))
    return PendingEpisode(str(uuid.uuid4()), "paper", REQUEST, made)


def test_a_judge_labels_each_decision_and_caches_it(paper: Suite) -> None:
    model = _says("needed_question", "right_tool")
    judge = Judge(ChatLabeler(model), tool_descriptions(paper.tools))
    episode = _episode(CLARIFY, "calculator")
    assert judge.rewards(episode) == {0: 0.0, 1: 1.0}
    assert judge.rewards(episode) == {0: 0.0, 1: 1.0}  # cached: no third reply needed
    assert len(model.requests) == 2 and judge.usage.calls == 2
    read = model.requests[1][1].text
    assert "User request: " in read and "- calculator: " in read and "called calculator" in read
    assert all(j["rubric"] == RUBRIC_VERSION for j in judge.judgments.values())


@pytest.mark.parametrize(
    "reply", ["not json", '{"label": "right_tool"', '{"label": "needed_question"}']
)
def test_a_reply_that_breaks_the_schema_is_a_counted_failure(paper: Suite, reply: str) -> None:
    judge = Judge(ChatLabeler(ScriptedChatModel(script=[AIMessage(reply)])), {})
    assert judge.rewards(_episode("calculator")) == {}  # a question label for a tool call too
    assert judge.failures == 1 and judge.usage.calls == 1  # the failed call is counted


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        yield provider


def test_a_judge_over_http_sends_the_json_schema(
    paper: Suite, stub: StubProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    judge = load_judge(
        "openai:gpt-4.1-mini", tool_descriptions(paper.tools), base_url=stub.openai_url
    )
    rewards = judge.rewards(_episode("calculator", "python_interpreter"))
    assert set(rewards) == {0, 1} and set(rewards.values()) <= {1.0, -1.0}
    assert [s["schema"] for s in stub.schemas] == [judgment_schema(TOOL_LABELS)] * 2
    assert judge.usage.calls == 2 and judge.usage.input_tokens > 0
    assert judge.usage.cost is not None and judge.usage.cost > 0  # gpt-4.1-mini's price
    stub.broken_replies = 1
    assert judge.rewards(_episode("create_image")) == {} and judge.failures == 1


class Gate:
    """A judge that answers only once the test lets it (a slow judge model)."""

    name = "judge"

    def __init__(self, judge: Judge) -> None:
        self.judge = judge
        self.open = threading.Event()

    def rewards(self, episode: PendingEpisode) -> Mapping[int, float]:
        assert self.open.wait(10)
        return self.judge.rewards(episode)


def _calls_calculator(paper: Suite, learning: Learning, memory: MemoryStore) -> str:
    call = AIMessage(
        "", tool_calls=[{"name": "calculator", "args": {"expression": "1"}, "id": "c"}]
    )
    agent_model = ScriptedChatModel(script=[call, AIMessage("20")])
    reflex = ReflexMiddleware(memory, suite="paper", render="advice", learn=learning)
    state = create_agent(agent_model, paper.tools, middleware=[reflex]).invoke(
        {"messages": [HumanMessage(REQUEST)]}
    )
    return str(state["reflexrl_run_id"])


@pytest.mark.parametrize("background", [True, False])
def test_an_agent_that_learns_from_its_judge_credits_at_the_end(
    paper: Suite, memory: MemoryStore, background: bool
) -> None:
    judge = Judge(ChatLabeler(_says("right_tool")), tool_descriptions(paper.tools))
    learning = Learning(judge=judge, judge_in_background=background, wait_for_feedback=False)
    run_id = _calls_calculator(paper, learning, memory)
    assert wait_for_judges(timeout=10)
    pending = memory.pending_episode(run_id)
    assert pending is not None and pending.status == "credited"
    assert pending.settled_by == "end-of-invocation" and pending.proposed == {0: 1.0}
    assert memory.rows("paper")[0].actions["calculator"].reward == 1.0
    assert not feedback(memory, pending.run_id, -1.0).credited  # too late: credited once


def test_no_answer_waits_for_the_judge(paper: Suite, memory: MemoryStore) -> None:
    gate = Gate(Judge(ChatLabeler(_says("right_tool")), tool_descriptions(paper.tools)))
    run_id = _calls_calculator(paper, Learning(judge=gate, wait_for_feedback=False), memory)
    logged = memory.pending_episode(run_id)  # answered while the judge is still thinking
    assert logged is not None and logged.status == "pending" and logged.proposed == {}
    assert not wait_for_judges(timeout=0.05)
    gate.open.set()
    assert wait_for_judges(timeout=10)
    credited = memory.pending_episode(run_id)
    assert credited is not None and credited.status == "credited"
    assert credited.proposed == {0: 1.0} and memory.rows("paper")[0].visits == 1


def test_feedback_before_the_judge_answers_is_what_credits(
    paper: Suite, memory: MemoryStore
) -> None:
    gate = Gate(Judge(ChatLabeler(_says("right_tool")), tool_descriptions(paper.tools)))
    run_id = _calls_calculator(paper, Learning(judge=gate), memory)
    assert feedback(memory, run_id, -1.0).credited
    gate.open.set()
    assert wait_for_judges(timeout=10)
    settled = memory.pending_episode(run_id)
    assert settled is not None and settled.settled_by == "feedback:user_score"
    assert settled.proposed == {}  # the judge came too late: nothing added, nothing credited
    assert memory.rows("paper")[0].actions["calculator"].reward == -1.0


def test_calibration_compares_the_judge_with_the_answer_key(paper: Suite) -> None:
    items = list(expected_labels(paper))
    assert len(items) == 30 * 7
    assert {label for _, label in items} == {"right_tool", "wrong_tool", "unneeded_question"}
    agreeing = [label for _, label in items[:7]]
    judge = Judge(ChatLabeler(_says(*agreeing)), tool_descriptions(paper.tools))
    report = calibrate_judge(judge, paper, limit=7)
    assert report.total == 7 and report.accuracy == 1.0 and report.kappa == 1.0
    assert report.to_json()["agreement"] == {
        "right_tool": 1.0,
        "unneeded_question": 1.0,
        "wrong_tool": 1.0,
    }


def test_calibration_kappa_is_zero_for_a_judge_that_always_says_the_same(paper: Suite) -> None:
    judge = Judge(ChatLabeler(_says(*["right_tool"] * 6)), tool_descriptions(paper.tools))
    report = calibrate_judge(judge, paper, limit=6)
    assert report.accuracy == pytest.approx(1 / 6) and report.kappa == pytest.approx(0.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_judge_calibrate_refuses_a_bad_spec() -> None:
    done = _cli("judge", "calibrate", "--suite", "paper", "--model", "nope:x")
    assert done.returncode == 2 and done.stderr.startswith("error: --model: unknown model spec")
    assert done.stderr.count("\n") == 1


def test_judge_calibrate_over_http_prints_the_agreement(stub: StubProvider) -> None:
    env_key = {"OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["judge", "calibrate", "--suite", "paper", "--model", "openai:gpt-4.1-mini"]
    args += ["--base-url", stub.openai_url, "--limit", "14", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env_key},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["decisions"] == 14 and report["usage"]["calls"] == 14
    assert (
        -1.0 <= report["kappa"] <= 1.0
        and sum(map(sum, (r.values() for r in report["confusion"].values()))) == 14
    )
