"""Requests with their own tools: call, ask or decline, the kinds the memory advises, the
split and the metrics of `reflexrl bench`. (Scripted models test the machinery only.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from reflexrl import BadInputError, ReflexMiddleware, RewardTable, Suite, evaluate, train
from reflexrl.agent.build import build_agent
from reflexrl.agent.wrap import wrap
from reflexrl.envs.acebench import import_acebench
from reflexrl.envs.item_suite import ItemSuite, stratified_split
from reflexrl.envs.items import Item, ItemTool, write_items
from reflexrl.errors import RunFailedError, SuiteError
from reflexrl.loop.bench import behaviour_metrics, bench
from reflexrl.loop.config import RunConfig
from reflexrl.memory import Advice, Neighbour
from reflexrl.memory.advice import vote
from reflexrl.memory.queries import evaluations_after
from reflexrl.models.action import ActionChatModel
from reflexrl.models.fake import ScriptedChatModel
from reflexrl.models.specs import load_model
from reflexrl.prompt.block import KIND_CALL, advice_line, as_block
from reflexrl.records import CLARIFY, DECLINE, ActionStats, Episode, MemoryRow, Step
from reflexrl.rewards.behaviour import BehaviourReward
from reflexrl.ui.pages import run_page

ACEBENCH = Path(__file__).resolve().parents[1] / "data" / "acebench"


def _tool(name: str) -> ItemTool:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    return ItemTool(name=name, description=f"{name} a thing", parameters=schema)


ITEMS = [
    Item(id="c1", question="Book a table in Rome", tools=[_tool("book"), _tool("play")],
         expected="call", gold_tools=["book"], source="call"),
    Item(id="c2", question="Play jazz in the kitchen", tools=[_tool("stream"), _tool("pay")],
         expected="call", gold_tools=["stream"], source="call"),
    Item(id="a1", question="Book a table", tools=[_tool("book")], expected="ask", source="ask"),
    Item(id="a2", question="Send the money", tools=[_tool("pay")], expected="ask", source="ask"),
    Item(id="d1", question="Fly me to the moon", tools=[_tool("weather")], expected="decline",
         source="decline"),
    Item(id="d2", question="Bake a cake", tools=[_tool("weather"), _tool("book")],
         expected="decline", source="decline"),
]  # fmt: skip


@pytest.fixture
def items(tmp_path: Path) -> ItemSuite:
    path = tmp_path / "items.jsonl"
    write_items(ITEMS, path)
    suite = Suite.load(f"items:{path}")
    assert isinstance(suite, ItemSuite)
    return suite


SEEN: list[list[str]] = []


class Recorder(ActionChatModel):
    """Calls its first bound tool, and records (in SEEN) the tools each call was offered."""

    @property
    def _llm_type(self) -> str:
        return "recorder"

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        names = [t["name"] for t in self.bound_tools]
        SEEN.append(names)
        return names[0]


def _through_wrap(memory: RewardTable) -> Runnable[Any, Any]:
    own = create_agent(Recorder(), [])
    return wrap(own, memory, agent_for=lambda tools: create_agent(Recorder(), tools))


@pytest.mark.parametrize("through", ["middleware", "wrap"])
def test_each_request_is_offered_its_own_tools_and_ends_at_its_first_decision(
    items: ItemSuite, memory: RewardTable, through: str
) -> None:
    SEEN.clear()
    if through == "wrap":
        agent = _through_wrap(memory)
    else:
        agent = create_agent(Recorder(), items.tools, middleware=[ReflexMiddleware(memory)])
    result = train(agent, items, memory, epochs=1, max_steps=4)
    offered = {i.id: [t.name for t in i.tools] for i in ITEMS}
    assert sorted(SEEN) == sorted([*offered[i.id], CLARIFY] for i in ITEMS)
    assert all(len(e.steps) == 1 for e in result.episodes)  # schemas only: one decision
    by_id = {e.query: e for e in result.episodes}
    assert by_id["c1"].success and by_id["c1"].steps[0].reward == 1.0
    assert by_id["a1"].steps[0].reward == -1.0  # a call where asking was right
    assert by_id["d2"].steps[0].reward == -1.0  # a tool called on an item to decline


def test_wrap_refuses_requests_with_their_own_tools_without_a_factory(
    items: ItemSuite, memory: RewardTable
) -> None:
    agent = wrap(create_agent(Recorder(), items.tools), memory)
    with pytest.raises(
        RunFailedError, match=r"agent_for: the requests of .* bring their own tools"
    ):
        train(agent, items, memory, epochs=1)


def test_wrap_shows_the_same_blocks_as_the_middleware(items: ItemSuite, tmp_path: Path) -> None:
    some = items.subset({"c1", "a1", "d2"})
    blocks = {}
    for through in ("middleware", "wrap"):
        with RewardTable(tmp_path / f"{through}.db") as memory:
            if through == "wrap":
                agent = _through_wrap(memory)
            else:
                agent = create_agent(Recorder(), [], middleware=[ReflexMiddleware(memory)])
            result = train(agent, some, memory, epochs=2, epsilon=0.0, concurrency=1)
            blocks[through] = [e.memory_blocks for e in result.episodes]
    assert blocks["wrap"] == blocks["middleware"]
    # d2's own actions but the tool that lost, one at a time
    untried = re.compile(rf"try a tool not tried yet: (book|{CLARIFY}|{DECLINE})$", re.M)
    assert any(untried.search(b) for e in blocks["wrap"] for b in e)


def test_an_items_context_is_shown_with_its_request_and_is_not_its_memory_key(
    tmp_path: Path, memory: RewardTable
) -> None:
    dated = Item(id="t1", question="Book a table for tomorrow", tools=[_tool("book")],
                 expected="call", gold_tools=["book"], context="Today is Saturday, March 12, 2022.")  # fmt: skip
    path = tmp_path / "dated.jsonl"
    write_items([dated, ITEMS[1]], path)
    model = ScriptedChatModel(script=[AIMessage("", tool_calls=[{"name": "book", "args": {}, "id": "x"}]), AIMessage("", tool_calls=[{"name": "stream", "args": {}, "id": "y"}])])  # fmt: skip
    suite = Suite.load(f"items:{path}")
    agent = create_agent(model, [], middleware=[ReflexMiddleware(memory)])
    train(agent, suite, memory, epochs=1, seed=0)
    systems = {str(r[-1].content): str(r[0].content) for r in model.requests}
    assert "Today is Saturday, March 12, 2022." in systems["Book a table for tomorrow"]
    assert "Today is" not in systems["Play jazz in the kitchen"]
    assert {r.prompt for r in memory.rows()} == {dated.question, ITEMS[1].question}


@pytest.mark.parametrize(
    ("item", "reply", "reward", "success"),
    [
        ("d1", AIMessage("I cannot do that."), 1.0, True),
        ("c1", AIMessage("I cannot do that."), -1.0, False),
        ("a1", AIMessage("", tool_calls=[{"name": CLARIFY, "args": {}, "id": "x"}]), 1.0, True),
        ("d1", AIMessage("", tool_calls=[{"name": CLARIFY, "args": {}, "id": "x"}]), 0.0, False),
    ],
)
def test_declining_and_asking_are_decisions_with_their_reward(
    items: ItemSuite, memory: RewardTable, item: str, reply: AIMessage, reward: float, success: bool
) -> None:
    one = items.subset({item})
    agent = create_agent(
        ScriptedChatModel(script=[reply]), [], middleware=[ReflexMiddleware(memory)]
    )
    (episode,) = train(agent, one, memory, epochs=1).episodes
    assert [(s.action, s.reward) for s in episode.steps] == [
        (reply.tool_calls[0]["name"] if reply.tool_calls else DECLINE, reward)
    ]
    assert episode.success is success


def test_behaviour_rewards_are_the_documented_ones() -> None:
    model = BehaviourReward({"c": "call", "a": "ask", "d": "decline"}, {"c": frozenset({"gold"})})
    table = {
        (q, a): model.reward(q, a)
        for q in ("c", "a", "d")
        for a in ("gold", "other", CLARIFY, DECLINE)
    }
    assert table == {
        ("c", "gold"): 1.0, ("c", "other"): -1.0, ("c", CLARIFY): 0.0, ("c", DECLINE): -1.0,
        ("a", "gold"): -1.0, ("a", "other"): -1.0, ("a", CLARIFY): 1.0, ("a", DECLINE): -1.0,
        ("d", "gold"): -1.0, ("d", "other"): -1.0, ("d", CLARIFY): 0.0, ("d", DECLINE): 1.0,
    }  # fmt: skip


def test_the_split_keeps_each_behaviour_and_source_in_proportion() -> None:
    suite = ItemSuite(import_acebench(ACEBENCH), ACEBENCH / "x.jsonl", "ace")
    first, second = stratified_split(suite, 0.5, seed=3)
    assert set(first.items).isdisjoint(second.items)
    assert set(first.items) | set(second.items) == set(suite.items)
    for source, total in {
        "normal_single_turn_single_function": 100,
        "special_irrelevant": 50,
    }.items():
        assert sum(i.source == source for i in first.items.values()) == total // 2
    again, _ = stratified_split(suite, 0.5, seed=3)
    other, _ = stratified_split(suite, 0.5, seed=4)
    assert set(again.items) == set(first.items) != set(other.items)
    assert first.name == second.name == "ace"  # one memory namespace
    with pytest.raises(SuiteError, match="one prompt each"):
        suite.check_holdout(1)


def _decided(query: str, action: str, success: bool) -> Episode:
    step = Step(0, query, action, {}, 1.0 if success else -1.0, success)
    return Episode(
        "r", 0, 0, "s", query, query, False, "valid" if success else "max_steps", (step,)
    )


def test_behaviour_metrics(items: ItemSuite) -> None:
    episodes = [
        _decided("c1", "book", True),
        _decided("c2", "pay", False),  # a call, but the wrong tool
        _decided("a1", CLARIFY, True),
        _decided("a2", DECLINE, False),
        _decided("d1", DECLINE, True),
        _decided("d2", "weather", False),  # a hallucinated call
    ]
    m = behaviour_metrics(episodes, items)
    assert m.precision == {"call": 2 / 3, "ask": 1.0, "decline": 0.5}
    assert m.recall == {"call": 1.0, "ask": 0.5, "decline": 0.5}
    assert m.f1["call"] == pytest.approx(0.8) and m.f1["ask"] == pytest.approx(2 / 3)
    assert m.accuracy == 0.5 and m.hallucination_rate == 0.5 and m.ask_rate == pytest.approx(1 / 6)
    assert m.per_source == {"ask": 0.5, "call": 0.5, "decline": 0.5}
    assert m.advised_rate == 0.0  # no memory block
    block = as_block(["Current prompt: x", advice_line(Advice("book"))])
    silent = as_block(["Current prompt: y"])
    shown = [
        replace(episodes[0], memory_blocks=(block,)),
        replace(episodes[1], memory_blocks=(silent,)),
    ]
    assert behaviour_metrics(shown, items).advised_rate == 0.5


def _neighbour(prompt: str, actions: dict[str, tuple[int, float]], similarity: float) -> Neighbour:
    stats = {a: ActionStats(n, r) for a, (n, r) in actions.items()}
    row = MemoryRow("s", prompt, None, sum(r for _, r in actions.values()), 1, 0, stats)
    return Neighbour(row, similarity)


def test_kinds_travel_where_tools_do_not() -> None:
    asked = [_neighbour("a", {CLARIFY: (1, 1.0)}, 0.9), _neighbour("b", {CLARIFY: (2, 2.0)}, 0.8)]
    assert vote(asked).best == CLARIFY  # both were right to ask
    declined = [_neighbour("a", {DECLINE: (1, 1.0), "x": (1, -1.0)}, 0.9)]
    assert vote(declined).best == DECLINE
    called = [_neighbour("a", {"book": (1, 1.0)}, 0.9), _neighbour("b", {"pay": (1, 1.0)}, 0.9)]
    kind = vote(called, offered=["stream", CLARIFY])
    assert kind is not None and kind.best is None and kind.kind == "call"
    assert advice_line(kind) == KIND_CALL
    assert vote(called, offered=["book", CLARIFY]).best == "book"  # the one offered
    split = [
        *asked,
        _neighbour("c", {DECLINE: (1, 1.0)}, 0.9),
        _neighbour("d", {DECLINE: (1, 1.0)}, 0.9),
    ]
    assert vote(split).best == CLARIFY and vote(split).contested  # kinds disagree: ask


def test_bench_trains_one_part_and_evaluates_both(items: ItemSuite, tmp_path: Path) -> None:
    memory = RewardTable(tmp_path / "bench.db")
    agent = build_agent(load_model("fake:oracle", items), items, memory, max_steps=1)
    result = bench(agent, items, memory, RunConfig(epochs=1, max_steps=1), share=0.5)
    assert {p: len(s.items) for p, s in result.parts.items()} == {"train": 3, "heldout": 3}
    for key, metrics in result.metrics.items():
        assert metrics.accuracy == 1.0 and metrics.macro_f1 == 1.0, key  # the oracle
    advised = {key: m.advised_rate for key, m in result.metrics.items()}
    assert advised[("train", True)] == 1.0  # each trained item's own record
    assert advised[("train", False)] == advised[("heldout", False)] == 0.0
    shape = result.to_json()
    assert shape["metrics"]["heldout"]["on"]["f1"] == {"call": 1.0, "ask": 1.0, "decline": 1.0}
    trained = {r.prompt for r in memory.rows(items.name)}
    assert trained == {items.items[q].question for q in result.parts["train"].items}
    recorded = evaluations_after(memory, result.train.run_id)  # after the bench's training
    assert [ev["split"] for ev in recorded] == ["bench:train", "bench:heldout"]
    assert recorded[1]["after"] == result.metrics[("heldout", True)].flat()
    page = run_page(memory, result.train.run_id)  # the run's page shows them
    assert "reflexrl bench" in page and page.count("<td>macro_f1</td>") == 2
    assert "<td>f1_decline</td>" in page and "success_rate" not in page


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_bench_command(items: ItemSuite, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    done = _cli("bench", str(items.path), "--model", "fake:oracle", "--memory", str(db), "--json")
    assert done.returncode == 0, done.stderr
    shape: dict[str, Any] = json.loads(done.stdout)
    assert shape["items"] == {"train": 3, "heldout": 3}
    assert shape["metrics"]["heldout"]["off"]["macro_f1"] == 1.0
    again = _cli("bench", str(items.path), "--model", "fake:oracle", "--memory", str(db))
    assert again.returncode == 2 and again.stderr.startswith("error: --memory: ")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    broken = _cli("bench", str(bad), "--model", "fake:oracle", "--memory", str(tmp_path / "c.db"))
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1
    assert "bad.jsonl: line 1: question" in broken.stderr


def test_a_suite_of_items_loads_by_prefix(items: ItemSuite) -> None:
    assert items.prompts_of("a1") == ["Book a table"] and items.tools == []
    assert items.offered_tools("c1")[0]["function"]["name"] == "book"
    with pytest.raises(BadInputError):
        Suite.load("items:/no/such/file.jsonl")
    assert evaluate  # the public evaluate takes an item suite like any other (bench uses it)
