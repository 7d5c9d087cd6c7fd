"""Item files (JSON Lines of call / ask / decline requests) and the ACEBench importer.

The ACEBench files are copies in tests/data/acebench (see its NOTICE.md): CI runs on a clean
clone, without the shared data folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reflexrl.envs import items as items_module
from reflexrl.envs.acebench import ACEBENCH_FILES, import_acebench
from reflexrl.envs.items import Item, ItemTool, read_items, write_items
from reflexrl.errors import BadInputError, SuiteError
from reflexrl.records import CLARIFY

ACEBENCH = Path(__file__).resolve().parents[1] / "data" / "acebench"

README_COUNTS = {
    ("special_incomplete", "ask"): 50,
    ("special_error_param", "ask"): 50,
    ("special_irrelevant", "decline"): 50,
    ("normal_single_turn_single_function", "call"): 100,
    ("normal_similar_api", "call"): 50,
}


@pytest.fixture(scope="module")
def acebench() -> list[Item]:
    return import_acebench(ACEBENCH)


def _raw(name: str, answers: bool = False) -> list[dict[str, Any]]:
    path = ACEBENCH / ("possible_answer" if answers else "") / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from reflexrl.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


# --- ACEBench ---------------------------------------------------------------------------


def test_acebench_gives_the_readme_counts(acebench: list[Item]) -> None:
    assert len(acebench) == 300
    assert Counter((i.source, i.expected) for i in acebench) == README_COUNTS
    assert Counter(i.expected for i in acebench) == {"call": 150, "ask": 100, "decline": 50}


def test_acebench_keeps_file_order_and_the_records_as_they_are(acebench: list[Item]) -> None:
    records = [(r, a) for name in ACEBENCH_FILES for r, a in _pairs(name)]
    assert [i.id for i in acebench] == [r["id"] for r, _ in records]
    for item, (record, answer) in zip(acebench, records, strict=True):
        assert "user: " + item.question == record["question"]  # nothing else changed
        assert item.answer == answer["ground_truth"]
        assert item.context == record["time"]
        assert [t.name for t in item.tools] == [t["name"] for t in record["function"]]
        assert [t.description for t in item.tools] == [t["description"] for t in record["function"]]


def _pairs(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return list(zip(_raw(name), _raw(name, answers=True), strict=True))


def test_a_dialogue_question_keeps_its_turns(acebench: list[Item]) -> None:
    item = next(i for i in acebench if i.id == "normal_similar_api_1")
    assert item.question.startswith("I'm interested in learning about China's carbon goals")
    assert "\nsystem: [carbon_goal_query(year=2030)]\n" in item.question
    assert item.question.endswith("\n")


def test_call_items_gold_tools_are_the_answer_keys_and_among_the_tools(
    acebench: list[Item],
) -> None:
    calls = [i for i in acebench if i.expected == "call"]
    assert len(calls) == 150
    for item in calls:
        assert item.gold_tools == list(item.answer)
        assert set(item.gold_tools) <= {t.name for t in item.tools}
    assert all(not i.gold_tools for i in acebench if i.expected != "call")


def test_acebench_tool_schemas_are_json_schema(acebench: list[Item]) -> None:
    types: Counter[str] = Counter()
    for item in acebench:
        for tool in item.tools:
            assert tool.parameters["type"] == "object"
            _types(tool.parameters, types)
    assert set(types) == {"object", "string", "array", "integer", "number", "boolean"}
    raw = _raw("data_special_error_param.json")[0]["function"][0]
    assert raw["parameters"]["type"] == "dict"  # the file itself is left as it is


def _types(schema: Any, found: Counter[str]) -> None:
    if isinstance(schema, dict):
        if isinstance(schema.get("type"), str):
            found[schema["type"]] += 1
        for value in schema.values():
            _types(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _types(value, found)


def test_acebench_names_that_a_suite_would_refuse_are_kept(acebench: list[Item]) -> None:
    names = {t.name for i in acebench for t in i.tools}
    assert "MarriageCounselingSessionScheduler_scheduleConflictResolutionSession" in names
    assert {"5G_Technology_Report_Finder", "5G_City_Application_Summary"} <= names


def test_a_subset_of_the_files(acebench: list[Item]) -> None:
    files = ["data_normal_similar_api.json", "data_special_irrelevant.json"]
    chosen = import_acebench(ACEBENCH, files)
    assert [i.source for i in chosen] == ["special_irrelevant"] * 50 + ["normal_similar_api"] * 50
    with pytest.raises(SuiteError, match=r"unknown ACEBench file 'data_x\.json'"):
        import_acebench(ACEBENCH, ["data_x.json"])


def _copy(tmp_path: Path, name: str = "data_special_irrelevant.json") -> Path:
    """A folder holding one ACEBench file and its answers."""
    (tmp_path / "possible_answer").mkdir()
    shutil.copy(ACEBENCH / name, tmp_path / name)
    shutil.copy(ACEBENCH / "possible_answer" / name, tmp_path / "possible_answer" / name)
    return tmp_path


def _edit(path: Path, line: int, edit: Any) -> None:
    """Replace line `line` (1-based) of a JSON Lines file with `edit(record)` (a str: as is)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    new = edit(json.loads(lines[line - 1]))
    lines[line - 1] = new if isinstance(new, str) else json.dumps(new)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


IRR = "data_special_irrelevant.json"


@pytest.mark.parametrize(
    ("answers", "line", "edit", "message"),
    [
        (False, 3, lambda r: "{oops", "{data}: line 3: not JSON"),
        (True, 4, lambda r: "[]", "{answers}: line 4: top level: expected a JSON object"),
        (False, 5, lambda r: {**r, "id": "zz"}, "{data}: line 5: no answer for id 'zz'"),
        (True, 6, lambda r: {**r, "id": "zz"}, "{data}: line 6: no answer for id"),
        (False, 2, lambda r: {**r, "id": "special_irrelevant_0"}, "{data}: line 2: id: duplicate"),
        (False, 7, lambda r: {**r, "question": 3}, "{data}: line 7: question: expected a string"),
        (
            False,
            8,
            lambda r: {**r, "question": "user:  "},
            "{data}: line 8: question: the question",
        ),
        (
            False,
            9,
            lambda r: {**r, "function": [r["function"][0], r["function"][0]]},
            "{data}: line 9: function.1.name: duplicate tool name",
        ),
        (
            False,
            10,
            lambda r: {**r, "function": [{**r["function"][0], "name": CLARIFY}]},
            f"{{data}}: line 10: function.0.name: '{CLARIFY}' is reserved",
        ),
        (True, 11, lambda r: {"id": r["id"]}, "{answers}: line 11: ground_truth: missing"),
    ],
)
def test_acebench_errors_name_the_file_and_line(
    tmp_path: Path, answers: bool, line: int, edit: Any, message: str
) -> None:
    folder = _copy(tmp_path)
    data, answer_file = folder / IRR, folder / "possible_answer" / IRR
    _edit(answer_file if answers else data, line, edit)
    with pytest.raises(SuiteError) as info:
        import_acebench(folder, [IRR])
    assert str(info.value).startswith(message.format(data=data, answers=answer_file))


def test_acebench_refuses_an_answer_without_a_record(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    answers = folder / "possible_answer" / IRR
    extra = json.dumps({"id": "special_irrelevant_99", "ground_truth": "no"})
    answers.write_text(answers.read_text(encoding="utf-8") + extra + "\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        import_acebench(folder, [IRR])
    assert str(info.value) == (
        f"{answers}: line 51: answer for id 'special_irrelevant_99', not in {folder / IRR}"
    )


@pytest.mark.parametrize("missing", ["data", "answers", "folder"])
def test_acebench_refuses_a_missing_file(tmp_path: Path, missing: str) -> None:
    folder = _copy(tmp_path)
    gone = {"data": folder / IRR, "answers": folder / "possible_answer" / IRR}.get(missing)
    if gone is None:
        folder = tmp_path / "nowhere"
        gone = folder
    else:
        gone.unlink()
    with pytest.raises(SuiteError, match="no such") as info:
        import_acebench(folder, [IRR])
    assert str(info.value).startswith(str(gone))


def test_acebench_gold_tools_of_a_call_answer(tmp_path: Path) -> None:
    name = "data_normal_similar_api.json"
    folder = _copy(tmp_path, name)
    answers = folder / "possible_answer" / name
    first = _raw(name, answers=True)[0]
    tool = next(iter(first["ground_truth"]))
    _edit(answers, 1, lambda r: {**r, "ground_truth": [{tool: {}}, {tool: {"a": 1}}]})
    assert import_acebench(folder, [name])[0].gold_tools == [tool]  # a list: every call's key
    _edit(answers, 1, lambda r: {**r, "ground_truth": "call it"})
    with pytest.raises(SuiteError) as info:
        import_acebench(folder, [name])
    assert str(info.value).startswith(f"{answers}: line 1: ground_truth: expected a mapping")
    _edit(answers, 1, lambda r: {**r, "ground_truth": {"other_tool": {}}})
    with pytest.raises(SuiteError) as info:
        import_acebench(folder, [name])
    assert str(info.value) == (
        f"{folder / name}: line 1: ground_truth.0: 'other_tool' is not one of the item's tools"
    )


# --- the item format ----------------------------------------------------------------------


def test_write_then_read_gives_every_item_back(tmp_path: Path, acebench: list[Item]) -> None:
    path = tmp_path / "items.jsonl"
    assert write_items(acebench, path) == 300
    assert read_items(path) == acebench
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 301 and lines[-1] == ""
    assert lines[0].startswith('{"id":"special_incomplete_0","question":"I need to manage')
    assert "139.6917° E" in path.read_text(encoding="utf-8")  # ensure_ascii=False


def test_write_is_atomic_and_refuses_what_it_could_not_read_back(
    tmp_path: Path, acebench: list[Item]
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(SuiteError, match="duplicate id 'special_incomplete_0' \\(items 0 and 1\\)"):
        write_items([acebench[0], acebench[0]], path)
    with pytest.raises(SuiteError, match="no items to write"):
        write_items([], path)
    with pytest.raises(BadInputError, match="is a directory"):
        write_items(acebench, tmp_path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.jsonl"]


def test_item_tool_defaults_and_openai_format() -> None:
    tool = ItemTool.model_validate({"name": "get.weather-v2", "extra": 1})
    assert tool.description == "" and tool.parameters == {"type": "object", "properties": {}}
    assert tool.to_openai() == {
        "type": "function",
        "function": {
            "name": "get.weather-v2",
            "description": "",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    with pytest.raises(ValidationError):
        tool.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("expected", ["ask", "decline"])
def test_an_item_without_tools_can_be_asked_or_declined(expected: str) -> None:
    item = Item.model_validate({"id": "a", "question": "q", "tools": [], "expected": expected})
    assert item.gold_tools == [] and item.source == "" and item.answer is None


GOOD = {
    "id": "a",
    "question": "Weather in Paris?",
    "tools": [{"name": "t", "description": "a tool"}, {"name": "u"}],
    "expected": "call",
    "gold_tools": ["t"],
}


def _with(**changes: Any) -> str:
    return json.dumps({**GOOD, "id": "b", **changes})


def _without(key: str) -> str:
    return json.dumps({k: v for k, v in GOOD.items() if k != key} | {"id": "b"})


BAD_LINES = [
    ("not JSON", "{not json", "not JSON: Expecting property name"),
    ("not an object", "[1, 2]", "top level: expected a JSON object (got an array)"),
    ("a string", '"hello"', "top level: expected a JSON object (got a string)"),
    ("NaN", _with(answer=float("nan")), "not JSON: NaN is not a JSON value"),
    ("missing question", _without("question"), "question: Field required"),
    ("missing tools", _without("tools"), "tools: Field required"),
    ("blank question", _with(question=" \n"), "question: the question is blank"),
    ("long question", _with(question="x" * 20_001), "question: String should have at most"),
    ("empty id", _with(id=""), "id: String should have at least 1 character"),
    ("unknown expected", _with(expected="maybe"), "expected: Input should be 'call', 'ask'"),
    ("gold not offered", _with(gold_tools=["x"]), "gold_tools.0: 'x' is not one of the item's"),
    ("gold twice", _with(gold_tools=["t", "t"]), "gold_tools.1: duplicate gold tool 't'"),
    ("no gold on call", _with(gold_tools=[]), "gold_tools: a 'call' item needs at least one"),
    ("gold on ask", _with(expected="ask"), "gold_tools: must be empty on an 'ask' item"),
    ("gold on decline", _with(expected="decline"), "gold_tools: must be empty on a"),
    ("duplicate id", _with(id="a"), "id: duplicate id 'a' (also on line 1)"),
    (
        "duplicate tool",
        _with(tools=[{"name": "t"}, {"name": "t"}]),
        "tools.1.name: duplicate tool name 't' (also tools.0)",
    ),
    ("reserved tool", _with(tools=[{"name": "decline"}]), "tools.0.name: 'decline' is reserved"),
    ("bad tool name", _with(tools=[{"name": "a b"}]), "tools.0.name: String should match"),
    (
        "python schema type",
        _with(tools=[{"name": "t", "parameters": {"type": "dict"}}]),
        'tools.0.parameters: expected a JSON schema of "type": "object" (got "dict")',
    ),
    (
        "properties not a mapping",
        _with(tools=[{"name": "t", "parameters": {"type": "object", "properties": []}}]),
        "tools.0.parameters: properties: expected a mapping",
    ),
    ("lone surrogate", '{"id": "b", "question": "a\\ud800"}', "question: not valid Unicode"),
]


@pytest.mark.parametrize(
    ("line", "message"), [(line, m) for _, line, m in BAD_LINES], ids=[c for c, _, _ in BAD_LINES]
)
def test_a_bad_line_names_the_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(f"{json.dumps(GOOD)}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        read_items(path)
    assert str(info.value).startswith(f"{path}: line 3: {message}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no items"),
        (b"\n  \n\n", "no items"),
        (json.dumps(GOOD).encode() + b"\n\xff\xfe\n", "line 2: not UTF-8 text (byte"),
    ],
    ids=["empty", "blank lines", "not UTF-8"],
)
def test_a_bad_file_names_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(content)
    with pytest.raises(SuiteError) as info:
        read_items(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_a_missing_a_large_or_a_special_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SuiteError, match="cannot be read"):
        read_items(tmp_path / "none.jsonl")
    with pytest.raises(SuiteError, match="not a regular file"):
        read_items(tmp_path)
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    monkeypatch.setattr(items_module, "MAX_ITEMS_BYTES", 10)
    with pytest.raises(SuiteError, match="larger than 10 bytes: not an item file"):
        read_items(path)


def test_crlf_and_a_byte_order_mark_are_read(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\r\n")
    assert read_items(path) == [Item.model_validate(GOOD)]


# --- the CLI ------------------------------------------------------------------------------


def test_cli_imports_acebench_and_checks_the_file(tmp_path: Path) -> None:
    out = tmp_path / "acebench.jsonl"
    done = _cli("items", "import-acebench", str(ACEBENCH), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["items"] == 300 and report["out"] == str(out)
    assert report["by_expected"] == {"ask": 100, "decline": 50, "call": 150}
    by_source = {(r["source"], r["expected"]): r["items"] for r in report["by_source"]}
    assert by_source == README_COUNTS
    done = _cli("items", "check", str(out))
    assert done.returncode == 0, done.stderr
    assert "300 valid items" in done.stdout and "special_error_param" in done.stdout


def test_cli_a_bad_file_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + _with(gold_tools=["x"]) + "\n", encoding="utf-8")
    done = _cli("items", "check", str(path), "--json")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == ""
    assert lines == [f"error: {path}: line 2: gold_tools.0: 'x' is not one of the item's tools"]


def test_cli_import_refuses_a_bad_out_before_reading(tmp_path: Path) -> None:
    done = _cli("items", "import-acebench", str(ACEBENCH), "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: --out: {tmp_path}: is a directory"]
