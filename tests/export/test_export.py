"""Distillation export: records in each documented format, their filters, and bad input.

The log is `export_log` (conftest): real runs of scripted policies on a real SQLite file.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import train_scripted
from pydantic import ValidationError

from reflexrl import BadInputError, RewardTable, Suite, open_memory
from reflexrl.cli.app import main
from reflexrl.export import (
    FORMATS,
    SCHEMAS,
    ExportOptions,
    called_action,
    export_records,
    tool_reward,
    write_jsonl,
)
from reflexrl.export.selection import select
from reflexrl.prompt.block import REQUEST_LINE
from reflexrl.prompt.instructions import REWARD_RULES
from reflexrl.records import CLARIFY
from reflexrl.safety.text import for_block


@pytest.fixture
def store(export_log: Path):
    memory = open_memory(export_log, read_only=True)
    yield memory
    memory.close()


def _request(messages: list[dict[str, Any]]) -> str:
    """The request being handled: the latest user turn (a rephrasing answers a question)."""
    turns = [m for m in messages if m["role"] == "user" or m.get("name") == CLARIFY]
    return str(turns[-1]["content"])


def _queries(suite: Suite) -> dict[str, str]:
    """prompt -> the id of the query it belongs to."""
    return {prompt: query for query, prompt in suite.prompts()}


def _cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_validates_and_carries_the_tools(store, paper: Suite, fmt: str) -> None:
    result = export_records(store, paper, format=fmt)
    assert result.records
    tools = {*paper.tool_names, CLARIFY}
    for record in result.records:
        SCHEMAS[fmt].model_validate(record)
        offered = record["input"]["tools"] if fmt == "openai-dpo" else record["tools"]
        assert {t["function"]["name"] for t in offered} == tools


def test_the_schemas_refuse_what_their_documentation_does_not_allow() -> None:
    call = {"type": "function", "function": {"name": "calculator", "arguments": {"x": "1"}}}
    user = {"role": "user", "content": "add 1 and 1"}
    tool = {"type": "function", "function": {"name": "calculator", "parameters": {}}}
    ok = {"messages": [user, {"role": "assistant", "tool_calls": [call]}], "tools": [tool]}
    SCHEMAS["trl-sft"].model_validate(ok)
    bad_order = {"messages": [{"role": "assistant", "tool_calls": [call]}, user], "tools": [tool]}
    openai_args_as_dict = {**ok, "parallel_tool_calls": False}
    nameless_tool_answer = {
        "messages": [user, {"role": "tool", "content": "2"}, ok["messages"][1]],
        "tools": [tool],
    }
    for fmt, record in [
        ("trl-sft", bad_order),
        ("openai-sft", openai_args_as_dict),
        ("trl-sft", nameless_tool_answer),
        ("trl-dpo", {"prompt": [user], "chosen": [user], "rejected": [user], "tools": []}),
    ]:
        with pytest.raises(ValidationError):
            SCHEMAS[fmt].model_validate(record)


def test_dpo_prefers_the_valid_tool_or_asking_over_a_wrong_tool_on_the_same_prompt(
    store, paper: Suite
) -> None:
    result = export_records(store, paper, format="trl-dpo")
    reward = paper.reward_model
    query_of = _queries(paper)
    for record in result.records:
        query = query_of.get(_request(record["prompt"]))
        assert query is not None
        chosen = record["chosen"][0]["tool_calls"][0]["function"]["name"]
        rejected = record["rejected"][0]["tool_calls"][0]["function"]["name"]
        assert reward.reward(query, rejected) == -1
        assert reward.reward(query, chosen) > reward.reward(query, rejected)
    assert result.pairs >= len(result.records) > 0


def test_without_memory_a_record_shows_what_a_memory_off_agent_reads(store, paper) -> None:
    records = export_records(store, paper, format="trl-sft").records
    systems = {r["messages"][0]["content"] for r in records}
    assert len(systems) == 1
    assert systems.pop().endswith(REWARD_RULES)
    assert not any("reflexrl_memory" in json.dumps(r) for r in records)
    # the decision the memory taught: one best action per request (whatever came before
    # it: the first ask, the rephrasing), never a -1
    taught: dict[str, set[str]] = {}
    query_of = _queries(paper)
    for record in records:
        call = record["messages"][-1]["tool_calls"][0]["function"]["name"]
        request = _request(record["messages"][:-1])
        taught.setdefault(request, set()).add(call)
        query = query_of.get(request)
        assert query is not None and paper.reward_model.reward(query, call) >= 0
    assert all(len(actions) == 1 for actions in taught.values())


def test_with_memory_each_record_shows_the_block_its_decision_saw(store, paper) -> None:
    records = export_records(store, paper, format="trl-sft", with_memory=True).records
    blocks = {
        b for run in store.runs() for e in store.episodes(run.run_id) for b in e.memory_blocks
    }
    for record in records:
        system = record["messages"][0]["content"]
        block = system[system.rindex("<reflexrl_memory>\n") :]
        assert block in blocks
        # the block of this model call: about the request being handled (after a question,
        # the rephrased one)
        assert f"{REQUEST_LINE}{for_block(_request(record['messages'][1:-1]))}\n" in block


def test_kto_labels_are_the_sign_of_the_reward(store, paper: Suite) -> None:
    result = export_records(store, paper, format="trl-kto", dedupe=False)
    query_of = _queries(paper)
    for record in result.records:
        query = query_of.get(_request(record["prompt"]))
        action = record["completion"][0]["tool_calls"][0]["function"]["name"]
        reward = paper.reward_model.reward(query or "", action)
        assert record["label"] == (reward >= 0)
        if action == CLARIFY:  # asking is desirable only where no tool earned a reward
            assert reward == 0
    assert result.labels["desirable"] > 0 and result.labels["undesirable"] > 0


def test_the_grpo_reward_function_scores_completions_with_the_suite(store, paper) -> None:
    rows = export_records(store, paper, format="trl-grpo").records
    assert len({json.dumps(r["prompt"]) for r in rows}) == len(rows)
    reward = tool_reward(paper)
    row = next(r for r in rows if r["query"] == "q1")
    valid = row["valid_tools"][0]
    wrong = next(t for t in paper.tool_names if t not in row["valid_tools"])
    completions = [
        [{"role": "assistant", "tool_calls": [{"function": {"name": valid, "arguments": {}}}]}],
        [{"role": "assistant", "content": json.dumps({"name": wrong, "arguments": {}})}],
        [{"role": "assistant", "content": f"I will call {CLARIFY} first"}],
        [{"role": "assistant", "content": "Sure, here is an answer."}],
        f"Tool: {valid}",
    ]
    assert reward(completions=completions, valid_tools=[row["valid_tools"]] * 5) == [
        1.0,
        -1.0,
        0.0,
        -1.0,
        1.0,
    ]
    assert called_action("call python_interpreter now", paper.tool_names) == "python_interpreter"


def test_filters_select_epochs_episodes_and_visits(store, paper: Suite) -> None:
    everything = export_records(store, paper, format="trl-kto", dedupe=False)
    last = export_records(store, paper, format="trl-kto", dedupe=False, last_epochs=1)
    assert 0 < last.decisions < everything.decisions
    assert export_records(store, paper, epochs=(2,), last_epochs=1).decisions == last.decisions
    won = export_records(store, paper, format="trl-kto", successful_only=True, dedupe=False)
    assert won.labels["undesirable"] < everything.labels["undesirable"]
    with pytest.raises(ValueError, match="min_visits"):
        ExportOptions(min_visits=0)
    visits = Counter(d.prompt for d in select(store, paper.name, ExportOptions()))
    most = max(visits.values())
    frequent = select(store, paper.name, ExportOptions(min_visits=most))
    assert {d.prompt for d in frequent} == {p for p, n in visits.items() if n == most}
    unexplored = export_records(store, paper, explored="exclude").decisions
    explored = export_records(store, paper, explored="only").decisions
    assert unexplored + explored == everything.decisions and explored > 0
    deduped = export_records(store, paper, format="trl-kto")
    assert len(deduped.records) + deduped.duplicates == len(everything.records)


def test_the_cli_writes_jsonl_and_reports_what_it_wrote(export_log: Path, tmp_path, capsys) -> None:
    out = tmp_path / "dpo.jsonl"
    assert (
        _cli(
            "export",
            "--memory",
            str(export_log),
            "--format",
            "trl-dpo",
            "--out",
            str(out),
            "--json",
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    lines = out.read_text().splitlines()
    assert summary["records"] == len(lines) > 0
    assert summary["dpo_pairs"] >= len(lines)
    assert all(SCHEMAS["trl-dpo"].model_validate(json.loads(line)) for line in lines)


def test_prompts_without_preference_signal_are_flagged(tmp_path, paper: Suite) -> None:
    path = tmp_path / "oracle.db"
    train_scripted(path, paper, ("oracle",))
    with closing(open_memory(path, read_only=True)) as memory:
        result = export_records(memory, paper, format="trl-grpo")
    assert len(result.without_signal) == len(list(paper.prompts()))


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    export_log: Path, tmp_path, capsys
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("kept\n")
    empty = tmp_path / "empty.db"
    RewardTable(empty).close()
    oracle = tmp_path / "oracle.db"
    train_scripted(oracle, Suite.load("paper"), ("oracle",))
    cases = [
        (("--memory", str(empty)), "suites in the memory: none"),
        (("--memory", str(export_log), "--run", "nope"), "no run 'nope'"),
        (("--memory", str(oracle), "--format", "openai-dpo"), "no preference pair"),
        (("--memory", str(export_log), "--format", "sft"), "--format"),
        (("--memory", str(tmp_path / "missing.db")), "no memory database"),
    ]
    for args, message in cases:
        assert _cli("export", *args, "--out", str(out)) == 2
        assert message in _error_line(capsys)
        assert out.read_text() == "kept\n"
    unwritable = [
        (tmp_path / "out.jsonl" / "x.jsonl", "no directory"),
        (Path("/proc/x.jsonl"), "write"),
    ]
    for path, message in unwritable:  # /proc refuses new files, even to root
        assert _cli("export", "--memory", str(export_log), "--out", str(path)) == 2
        assert message in _error_line(capsys)
    assert list(tmp_path.glob(".*tmp")) == []


def test_with_memory_needs_the_blocks_it_shows(tmp_path, paper: Suite) -> None:
    path = tmp_path / "blockless.db"
    train_scripted(path, paper, ("first",))
    with closing(sqlite3.connect(path)) as db, db:  # a log whose agent logged no blocks
        db.execute("UPDATE episodes SET memory_blocks = '[]'")
    with closing(open_memory(path, read_only=True)) as memory:
        export_records(memory, paper)  # without the memory: fine
        with pytest.raises(BadInputError, match="logged no memory block"):
            export_records(memory, paper, with_memory=True)


def test_a_failed_write_leaves_the_old_file(store, paper: Suite, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    out.write_text("old\n")
    result = export_records(store, paper)
    broken = type(result)(**{**result.__dict__, "records": (*result.records, {"x": {1, 2}})})
    with pytest.raises(TypeError):
        write_jsonl(broken, out)
    assert out.read_text() == "old\n"
    assert list(tmp_path.glob(".*tmp")) == []
