"""Suites: every bundled suite conforms; bad suite files fail naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from langchain_core.utils.function_calling import convert_to_openai_tool

from reflexrl import Suite
from reflexrl.envs.suite import bundled_suites
from reflexrl.errors import SuiteError


@pytest.mark.parametrize("name", sorted(bundled_suites()))
def test_bundled_suite_conforms(name: str) -> None:
    suite = Suite.load(name)
    tool_names = [t.name for t in suite.tools]
    assert tool_names == suite.tool_names
    prompts = [p for _, p in suite.prompts()]
    assert len(prompts) == len(set(prompts))
    query_of = {p: q for q, p in suite.prompts()}
    for query in suite.spec.queries:
        assert set(query.valid_tools) <= set(tool_names)
        assert all(query_of.get(p) == query.id for p in query.prompts)


def _model_args(tool: object, request: str) -> dict[str, str]:
    """What a scripted or local model passes: the request for every required string."""
    params = convert_to_openai_tool(tool)["function"]["parameters"]
    props = params.get("properties", {})
    required = params.get("required", [])
    return {p: request for p in required if props[p].get("type") == "string"}


@pytest.mark.parametrize("name", ["assistant", "workplace"])  # paper's run model-written code
def test_every_tool_runs_on_a_models_arguments(name: str) -> None:
    suite = Suite.load(name)
    for query in suite.spec.queries:
        (tool_name,) = query.valid_tools
        tool = next(t for t in suite.tools if t.name == tool_name)
        for prompt in query.prompts:
            args = _model_args(tool, prompt)
            assert args, tool_name
            result = tool.invoke(args)
            assert isinstance(result, str) and not result.startswith("error"), (name, result)
            assert result == tool.invoke(args)  # deterministic


def test_paper_suite_shape(paper: Suite) -> None:
    assert [len(q.prompts) for q in paper.spec.queries] == [5] * 6
    assert paper.tool_names[0] == "create_image"
    assert paper.reward_model.is_valid("q4", "python_interpreter")
    assert not paper.reward_model.is_valid("q4", "calculator")


def test_paper_tool_runs_through_langchain(paper: Suite) -> None:
    calculator = next(t for t in paper.tools if t.name == "calculator")
    assert calculator.invoke({"expression": "5 plus 5 plus 10"}) == "20"


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def _valid() -> dict:
    tools = Path(__file__).resolve().parents[2] / "tools" / "paper.py"
    return {
        "name": "mini",
        "tools": [
            {"name": "calculator", "description": "Compute.", "function": f"{tools}:calculator"},
            {
                "name": "python_interpreter",
                "description": "Run.",
                "function": f"{tools}:python_interpreter",
            },
        ],
        "queries": [
            {"id": "a", "valid_tools": ["calculator"], "prompts": ["2+2", "two plus two"]},
            {"id": "b", "valid_tools": ["python_interpreter"], "prompts": ["loop i+=1 twice"]},
        ],
    }


def test_user_suite_loads_by_path(tmp_path: Path) -> None:
    suite = Suite.load(_write(tmp_path, _valid()))
    assert suite.name == "mini"
    assert suite.prompts_of("a") == ["2+2", "two plus two"]


def _broken(change: str) -> dict:
    data = _valid()
    if change == "unknown tool":
        data["queries"][1]["valid_tools"] = ["shell"]
    elif change == "duplicate prompt":
        data["queries"][1]["prompts"] = ["2+2"]
    elif change == "empty query":
        data["queries"][0]["prompts"] = []
    elif change == "blank prompt":
        data["queries"][0]["prompts"] = ["  "]
    elif change == "reserved tool":
        data["tools"][0]["name"] = "ask_user_for_clarification"
    elif change == "unknown field":
        data["queries"][0]["weight"] = 2
    return data


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("unknown tool", "queries.1.valid_tools.0", "unknown tool 'shell'"),
        ("duplicate prompt", "queries.1.prompts.0", "duplicate prompt"),
        ("empty query", "queries.0.prompts", "at least 1"),
        ("blank prompt", "queries.0.prompts", "empty"),
        ("reserved tool", "tools.0.name", "reserved"),
        ("unknown field", "queries.0.weight", "not permitted"),
    ],
)
def test_bad_suite_names_file_and_field(
    tmp_path: Path, change: str, field: str, words: str
) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(SuiteError) as info:
        Suite.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}")
    assert words in message
    assert "\n" not in message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\ntools: [\n  - a\nqueries: {")
    with pytest.raises(SuiteError, match=r"suite\.yaml: line \d+: YAML syntax error"):
        Suite.load(path)


def test_missing_tool_file(tmp_path: Path) -> None:
    data = _valid()
    data["tools"][0]["function"] = "nowhere.py:calculator"
    with pytest.raises(SuiteError, match=r"tools\.0\.function: no file"):
        Suite.load(_write(tmp_path, data))


def test_unknown_suite_lists_bundled() -> None:
    with pytest.raises(SuiteError, match=r"no-such-suite: no such suite.*bundled: .*paper"):
        Suite.load("no-such-suite")
