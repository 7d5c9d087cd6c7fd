"""Learning outside training: a `create_agent` agent with `learn=True` logs each invocation,
and feedback (late, from another process, repeated) credits it once."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.tools import tool
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import ToolException
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from reflexrl import (
    Learning,
    ReflexMiddleware,
    Suite,
    ask_user_for_clarification,
    feedback,
    open_memory,
    wrap,
)
from reflexrl.agent.learning import BLOCK_KEY
from reflexrl.errors import BadInputError, FeedbackError
from reflexrl.memory import MemoryStore
from reflexrl.memory.advice import next_to_try
from reflexrl.memory.lookup import ActionEstimate
from reflexrl.memory.pending import learn_run_id
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.prompt.block import advised_actions
from reflexrl.records import CLARIFY
from reflexrl.rewards.online import expire_due

REQUEST = "Calculate the result of the mathematical expression: 5 plus 5 plus 10"
PARAPHRASE = "What is the result of the maths expression 5 plus 5 plus 10?"
ANSWER = "Just add them up with a calculator"


def _call(name: str, args: dict[str, Any], call_id: str = "c1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])


def _agent(memory: MemoryStore, suite: Suite, *script: AIMessage, **kw: Any) -> Any:
    model = ScriptedChatModel(script=[*script, AIMessage("done")])
    reflex = ReflexMiddleware(memory, suite="paper", render="advice", learn=True, **kw)
    return create_agent(model, [*suite.tools, _broken], middleware=[reflex]), model


@tool
def _broken(text: str) -> str:
    """A tool that fails."""
    raise ToolException("the service is down")


_broken.handle_tool_error = True


def _invoke(agent: Any, prompt: str, run_id: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"run_id": uuid.UUID(run_id)} if run_id else {}
    return dict(agent.invoke({"messages": [HumanMessage(prompt)]}, config=config))


def test_an_invocation_waits_for_its_reward_then_is_credited_once(
    paper: Suite, memory: MemoryStore
) -> None:
    run_id = str(uuid.uuid4())
    agent, _ = _agent(memory, paper, _call("calculator", {"expression": "5+5+10"}))
    state = _invoke(agent, REQUEST, run_id)
    assert state["reflexrl_run_id"] == run_id
    pending = memory.pending_episode(run_id)
    assert pending is not None and pending.status == "pending" and pending.prompt == REQUEST
    [decision] = pending.decisions
    assert (decision.action, decision.args) == ("calculator", {"expression": "5+5+10"})
    assert decision.block is not None and "<reflexrl_memory>" in decision.block
    assert memory.rows("paper") == []  # nothing credited before the reward arrives

    done = feedback(memory, run_id, 1.0, comment="right tool")
    assert done.credited and done.rewards == {0: 1.0} and done.settled_by == "feedback:user_score"
    settled = memory.pending_episode(run_id)
    assert settled is not None and settled.comment == "right tool"
    again = feedback(memory, run_id, 1.0)
    assert not again.credited and again.settled_by == "feedback:user_score"
    [row] = memory.rows("paper")
    assert (row.prompt, row.visits, row.actions["calculator"].reward) == (REQUEST, 1, 1.0)
    [episode] = memory.episodes(learn_run_id("paper"))
    assert episode.index == pending.number and episode.memory_blocks == (decision.block,)
    assert memory.pending_counts("paper") == {"pending": 0, "credited": 1, "expired": 0}


def test_an_invocation_without_a_run_id_gets_one(paper: Suite, memory: MemoryStore) -> None:
    agent, model = _agent(memory, paper, _call("calculator", {"expression": "1"}))
    state = _invoke(agent, REQUEST)
    assert memory.pending_episode(state["reflexrl_run_id"]) is not None
    reply = state["messages"][1]
    assert reply.response_metadata[BLOCK_KEY] in model.requests[0][0].text


def test_a_failed_tool_call_earns_minus_one_under_the_feedback(
    paper: Suite, memory: MemoryStore
) -> None:
    agent, _ = _agent(
        memory,
        paper,
        _call("_broken", {"text": "x"}, "c1"),
        _call("calculator", {"expression": "5+5+10"}, "c2"),
    )
    run_id = _invoke(agent, REQUEST)["reflexrl_run_id"]
    pending = memory.pending_episode(run_id)
    assert pending is not None and [d.failed for d in pending.decisions] == [True, False]
    assert pending.proposed == {0: -1.0}
    done = feedback(memory, run_id, 1.0)
    assert done.rewards == {1: 1.0, 0: -1.0}
    [row] = memory.rows("paper")
    assert row.actions["_broken"].reward == -1.0 and row.actions["calculator"].reward == 1.0


def test_expired_invocations_are_counted_and_refuse_feedback(
    paper: Suite, memory: MemoryStore
) -> None:
    agent, _ = _agent(memory, paper, _call("calculator", {"expression": "1"}))
    quiet = _invoke(agent, REQUEST)["reflexrl_run_id"]
    failing, _ = _agent(memory, paper, _call("_broken", {"text": "x"}))
    failed = _invoke(failing, PARAPHRASE)["reflexrl_run_id"]
    later = datetime.now(UTC) + timedelta(days=8)
    assert expire_due(memory, later) == {"credited": 1, "expired": 1}
    assert memory.pending_counts() == {"pending": 0, "credited": 1, "expired": 1}
    with pytest.raises(FeedbackError, match="expired"):
        feedback(memory, quiet, 1.0)
    assert not feedback(memory, failed, 1.0).credited  # its outcome was credited on expiry
    [row] = memory.rows("paper")
    assert row.prompt == PARAPHRASE and row.actions["_broken"].reward == -1.0


@pytest.mark.parametrize(
    ("fields", "setting"),
    [
        ({"score": 2.0}, "score"),
        ({"score": 1.0, "step": 3}, "step"),
        ({"score": 1.0, "key": ""}, "key"),
    ],
)
def test_bad_feedback_names_its_field(
    paper: Suite, memory: MemoryStore, fields: dict[str, Any], setting: str
) -> None:
    agent, _ = _agent(memory, paper, _call("calculator", {"expression": "1"}))
    run_id = _invoke(agent, REQUEST)["reflexrl_run_id"]
    score = fields.pop("score")
    with pytest.raises(FeedbackError) as caught:
        feedback(memory, run_id, score, **fields)
    assert caught.value.setting == setting
    with pytest.raises(FeedbackError, match="no invocation 'nope'"):
        feedback(memory, "nope", 1.0)
    assert memory.pending_counts() == {"pending": 1, "credited": 0, "expired": 0}


def _cli(*args: str) -> subprocess.Popen[str]:
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_feedback_from_another_process_after_a_restart_teaches_a_paraphrase(
    paper: Suite, tmp_path: Path
) -> None:
    """The agent's process logs the invocation and stops; another process sends the same
    feedback four times at once (one credit); a restarted agent, on a kNN memory, then
    reads the learned advice for a paraphrase it never saw."""
    path = tmp_path / "prod.db"
    run_id = str(uuid.uuid4())
    with closing(open_memory(path, lookup="knn")) as store:
        agent, _ = _agent(store, paper, _call("calculator", {"expression": "5+5+10"}))
        _invoke(agent, REQUEST, run_id)
    senders = [_cli("feedback", run_id, "--score", "1", "--memory", str(path)) for _ in range(4)]
    results = [(*p.communicate(timeout=120), p.returncode) for p in senders]
    assert [code for *_, code in results] == [0] * 4, results
    said = sorted(out.split()[0] for out, _, _ in results)
    assert said == sorted(["credited", run_id, run_id, run_id])  # once; 3 found it credited
    with closing(open_memory(path, lookup="knn")) as store:
        [row] = store.rows("paper")
        assert row.visits == 1 and row.actions["calculator"].n == 1
        agent, model = _agent(store, paper)
        _invoke(agent, PARAPHRASE)
        assert advised_actions(model.requests[0][0].text) == {"calculator"}


def test_the_feedback_command_refuses_bad_input(paper: Suite, tmp_path: Path) -> None:
    path = tmp_path / "prod.db"
    with closing(open_memory(path)) as store:
        agent, _ = _agent(store, paper, _call("calculator", {"expression": "1"}))
        run_id = _invoke(agent, REQUEST)["reflexrl_run_id"]
    cases = {
        ("--score", "1.5"): "error: --score: ",
        ("--score", "1", "--step", "4"): "error: --step: ",
        ("--score", "nan"): "error: --score: ",
    }
    for flags, start in cases.items():
        proc = _cli("feedback", run_id, *flags, "--memory", str(path))
        _, err = proc.communicate()
        assert proc.returncode == 2 and err.startswith(start) and err.count("\n") == 1, err
    proc = _cli("feedback", "unknown-run", "--score", "1", "--memory", str(path))
    _, err = proc.communicate()
    assert proc.returncode == 2 and err.startswith("error: no invocation 'unknown-run'")


def _asking_agent(memory: MemoryStore, suite: Suite, *script: AIMessage, **kw: Any) -> Any:
    """An agent whose questions pause it for the user's answer (a LangGraph interrupt)."""
    model = ScriptedChatModel(script=[*script, AIMessage("done")])
    reflex = ReflexMiddleware(memory, suite="paper", render="advice", **kw)
    agent = create_agent(model, suite.tools, middleware=[reflex], checkpointer=InMemorySaver())
    return agent, model


def _served(agent: Any, prompt: str, answer: str) -> str:
    """Invoke `agent` on `prompt`, answering its question with `answer`; its run id."""
    config: dict[str, Any] = {"configurable": {"thread_id": str(uuid.uuid4())}}
    state = agent.invoke({"messages": [HumanMessage(prompt)]}, config)
    if "__interrupt__" in state:
        state = agent.invoke(Command(resume=answer), config)
    return str(state["reflexrl_run_id"])


def test_a_request_whose_tool_failed_is_advised_to_ask_and_learns_from_the_answer(
    paper: Suite, memory: MemoryStore
) -> None:
    """In production a tool tried is an action taken for a user: after a failure the block
    advises asking, and the tool the answer led to is credited to the request itself, and
    to the answer (its question only to the request)."""
    agent, _ = _asking_agent(memory, paper, _call("python_interpreter", {"code": "1"}), learn=True)
    assert feedback(memory, _served(agent, REQUEST, ""), -1.0).credited

    agent, model = _asking_agent(
        memory,
        paper,
        _call(CLARIFY, {"question": "Which tool?"}),
        _call("calculator", {"expression": "5+5+10"}, "c2"),
        learn=True,
    )
    run_id = _served(agent, REQUEST, ANSWER)
    assert advised_actions(model.requests[0][0].text) == {CLARIFY}
    assert feedback(memory, run_id, 1.0).rewards == {1: 1.0}
    rows = {
        r.prompt: {a: (s.n, s.reward) for a, s in r.actions.items()} for r in memory.rows("paper")
    }
    assert rows == {
        REQUEST: {"python_interpreter": (1, -1.0), CLARIFY: (1, 0.0), "calculator": (1, 1.0)},
        ANSWER: {"calculator": (1, 1.0)},
    }

    agent, model = _asking_agent(memory, paper, learn=True)
    _served(agent, REQUEST, "")
    assert advised_actions(model.requests[0][0].text) == {"calculator"}


def test_the_answer_to_a_question_never_tries_again_the_tool_that_failed_on_the_request(
    paper: Suite, memory: MemoryStore
) -> None:
    """The user's answer, itself a request the memory holds, is advised a tool its own
    record never tried; never the one that already failed on the request it clarifies."""
    untried = ["create_image", "calculator", "python_interpreter"]  # the suite's tool order
    failed = {a: ActionEstimate(-1.0, 1.0, 1) for a in paper.tool_names if a not in untried}
    # an answer whose own record alone would draw the tool that failed on the request
    answer = next(
        text
        for text in (f"Just add them up ({i})" for i in range(100))
        if next_to_try(untried, failed, f"{text}|{len(failed)}") == "python_interpreter"
    )
    for tool_name in failed:
        agent, _ = _asking_agent(memory, paper, _call(tool_name, {"query": "x"}), learn=True)
        assert feedback(memory, _served(agent, answer, ""), -1.0).credited
    agent, _ = _asking_agent(memory, paper, _call("python_interpreter", {"code": "1"}), learn=True)
    assert feedback(memory, _served(agent, REQUEST, ""), -1.0).credited

    agent, model = _asking_agent(
        memory, paper, _call(CLARIFY, {"question": "Which tool?"}), learn=True
    )
    _served(agent, REQUEST, answer)
    assert advised_actions(model.requests[0][0].text) == {CLARIFY}
    assert advised_actions(model.requests[1][0].text) in ({"create_image"}, {"calculator"})


def test_exploring_by_trying_advises_a_tool_never_tried_after_a_failure(
    paper: Suite, memory: MemoryStore
) -> None:
    agent, _ = _asking_agent(memory, paper, _call("python_interpreter", {"code": "1"}), learn=True)
    assert feedback(memory, _served(agent, REQUEST, ""), -1.0).credited
    agent, model = _asking_agent(memory, paper, learn=Learning(explore="try"))
    _served(agent, REQUEST, "")
    [tool_name] = advised_actions(model.requests[0][0].text)
    assert tool_name in {t.name for t in paper.tools} - {"python_interpreter"}


def test_a_wrapped_agent_learns_from_feedback_too(paper: Suite, memory: MemoryStore) -> None:
    model = ScriptedChatModel(
        script=[_call("calculator", {"expression": "5+5+10"}), AIMessage("20")]
    )
    built = create_agent(model, [*paper.tools, ask_user_for_clarification])
    agent = wrap(built, memory, suite="paper", render="advice", learn=True)
    run_id = str(uuid.uuid4())
    state = _invoke(agent, REQUEST, run_id)
    assert state["reflexrl_run_id"] == run_id
    pending = memory.pending_episode(run_id)
    assert pending is not None and [d.action for d in pending.decisions] == ["calculator"]
    assert pending.decisions[0].block is not None
    assert pending.decisions[0].block in model.requests[0][0].text
    assert feedback(memory, run_id, 1.0).credited
    assert memory.rows("paper")[0].actions["calculator"].reward == 1.0


def test_shadow_mode_learns_shows_nothing_and_reports_what_it_would_have_advised(
    paper: Suite, tmp_path: Path
) -> None:
    path = tmp_path / "shadow.db"
    with closing(open_memory(path)) as store:
        for score in (-1.0, 1.0):  # the same request twice: the second has a record
            model = ScriptedChatModel(
                script=[_call("calculator", {"expression": "1"}), AIMessage("2")]
            )
            reflex = ReflexMiddleware(
                store, suite="paper", render="advice", learn=Learning(shadow=True)
            )
            agent = create_agent(model, paper.tools, middleware=[reflex])
            run_id = _invoke(agent, REQUEST)["reflexrl_run_id"]
            assert "<reflexrl_memory>" not in model.requests[0][0].text  # nothing shown
            assert feedback(store, run_id, score).credited
        [first, second] = store.invocations("paper", "credited")
        assert first.decisions[0].block is not None  # logged all the same
        assert advised_actions(second.decisions[0].block or "") == {CLARIFY}  # it failed
        with pytest.raises(BadInputError, match="shadow mode needs ReflexMiddleware"):
            wrap(
                create_agent(ScriptedChatModel(script=[]), paper.tools),
                store,
                learn=Learning(shadow=True),
            )
    proc = _cli("memory", "shadow", "--memory", str(path), "--suite", "paper", "--json")
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert (report["decisions"], report["rewarded"]) == (2, 1)
    assert report["advised"] == 1 and report["rewarded_as_advised"] == 0  # it advised asking
