"""ACEBench's call / ask / decline subset as items.

ACEBench (Chen et al., arXiv 2501.12851; MIT license) ships JSON Lines files despite their
`.json` names: a data file of requests with their tools and, under `possible_answer/`, a file
of the same name with each request's `ground_truth`. Five English files make the subset:
two where a request must be asked about (a parameter is missing or wrong), one where no
offered tool serves it (decline), and two where one tool must be called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import SuiteError
from .items import Behaviour, Item, read_json_lines
from .suite import _first_error

__all__ = ["ACEBENCH_FILES", "import_acebench"]

ACEBENCH_FILES: dict[str, Behaviour] = {
    "data_special_incomplete.json": "ask",
    "data_special_error_param.json": "ask",
    "data_special_irrelevant.json": "decline",
    "data_normal_single_turn_single_function.json": "call",
    "data_normal_similar_api.json": "call",
}
"""The data files of the subset (in the order imported) and the behaviour each expects."""

_ANSWERS = "possible_answer"
_PREFIX = "user: "
_JSON_TYPES = {"dict": "object", "float": "number", "tuple": "array"}
"""Python type names ACEBench uses (after BFCL) where JSON Schema has its own: providers
refuse a tool whose schema says `"type": "dict"` (136 tools of special_error_param do)."""
_SUBSCHEMAS = ("items", "additionalProperties", "not", "anyOf", "oneOf", "allOf", "prefixItems")
_FIELDS = {"tools": "function", "gold_tools": "ground_truth"}
"""An item's fields under their ACEBench names, for error messages about an ACEBench file."""


def import_acebench(folder: str | Path, files: Sequence[str] | None = None) -> list[Item]:
    """The items of ACEBench's data files in `folder` (answers in `folder/possible_answer/`).

    Files are read in the order of `ACEBENCH_FILES`, records in file order. The question
    loses its leading "user: " (the rest is kept exactly, turns of a dialogue included);
    `gold_tools` of a `call` item are the keys of its ground truth; `answer` is the ground
    truth as it is; `context` is the record's `time` ("Today is ...", often empty).

    Args:
        folder: ACEBench's `data_all/data_en/` (or a copy of the five files).
        files: Only these data files (names from `ACEBENCH_FILES`); default all five.

    Raises:
        SuiteError: an unknown or missing file, bad JSON, a request without an answer or an
            answer without a request, a record that does not make a valid item. The message
            names the file and the line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SuiteError(f"{folder}: no such folder (expected ACEBench's data_all/data_en)")
    items: list[Item] = []
    first: dict[str, str] = {}
    for name in _chosen(files):
        for item in _import_file(folder, name, ACEBENCH_FILES[name]):
            if item.id in first:
                raise SuiteError(f"{folder / name}: id '{item.id}' is also in {first[item.id]}")
            first[item.id] = name
            items.append(item)
    return items


def _chosen(files: Sequence[str] | None) -> list[str]:
    if files is None:
        return list(ACEBENCH_FILES)
    for name in files:
        if name not in ACEBENCH_FILES:
            known = ", ".join(ACEBENCH_FILES)
            raise SuiteError(f"unknown ACEBench file '{name}' (known: {known})")
    if not files:
        raise SuiteError("no ACEBench file chosen")
    return [name for name in ACEBENCH_FILES if name in files]


def _import_file(folder: Path, name: str, expected: Behaviour) -> list[Item]:
    data_path, answer_path = folder / name, folder / _ANSWERS / name
    for path in (data_path, answer_path):
        if not path.exists():
            raise SuiteError(f"{path}: no such file (ACEBench's data and answer files needed)")
    answers = _answers(answer_path)
    source = Path(name).stem.removeprefix("data_")
    items: list[Item] = []
    seen: set[str] = set()
    for number, record in read_json_lines(data_path):
        where = f"{data_path}: line {number}"
        record_id = _record_id(record, where)
        if record_id in seen:
            raise SuiteError(f"{where}: id: duplicate id '{record_id}'")
        seen.add(record_id)
        if record_id not in answers:
            raise SuiteError(f"{where}: no answer for id '{record_id}' in {answer_path}")
        answer_where, truth = answers.pop(record_id)
        gold = _gold_tools(truth, answer_where) if expected == "call" else []
        items.append(_item(record, expected, gold, source, truth, where))
    if answers:
        record_id, (answer_where, _) = next(iter(answers.items()))
        raise SuiteError(f"{answer_where}: answer for id '{record_id}', not in {data_path}")
    return items


def _answers(path: Path) -> dict[str, tuple[str, Any]]:
    """Each id's (where its answer is, its ground truth), in file order."""
    found: dict[str, tuple[str, Any]] = {}
    for number, record in read_json_lines(path):
        where = f"{path}: line {number}"
        record_id = _record_id(record, where)
        if record_id in found:
            raise SuiteError(f"{where}: id: duplicate id '{record_id}'")
        if "ground_truth" not in record:
            raise SuiteError(f"{where}: ground_truth: missing")
        found[record_id] = (where, record["ground_truth"])
    return found


def _record_id(record: dict[str, Any], where: str) -> str:
    record_id = record.get("id")
    if not isinstance(record_id, str) or not record_id:
        raise SuiteError(f"{where}: id: expected a non-empty string")
    return record_id


def _gold_tools(truth: Any, where: str) -> list[str]:
    """The tools a `call` answer names: the keys of `{tool: arguments}`, or of each such
    mapping in a list (ACEBench's form for several calls), first mention first."""
    calls = truth if isinstance(truth, list) else [truth]
    if not calls or not all(isinstance(call, dict) and call for call in calls):
        raise SuiteError(f"{where}: ground_truth: expected a mapping of tool name to arguments")
    return list(dict.fromkeys(name for call in calls for name in call))


def _item(
    record: dict[str, Any],
    expected: Behaviour,
    gold: list[str],
    source: str,
    truth: Any,
    where: str,
) -> Item:
    question = record.get("question")
    if not isinstance(question, str):
        raise SuiteError(f"{where}: question: expected a string")
    data = {
        "id": record["id"],
        "question": question.removeprefix(_PREFIX),
        "tools": _tools(record.get("function")),
        "expected": expected,
        "gold_tools": gold,
        "source": source,
        "answer": truth,
        "context": record.get("time") or "",
    }
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{where}: {_in_acebench_terms(_first_error(exc))}") from exc


def _in_acebench_terms(message: str) -> str:
    """An error about an item's `tools` or `gold_tools` under ACEBench's field names."""
    for field, name in _FIELDS.items():
        if message.startswith((f"{field}.", f"{field}:")):
            return name + message[len(field) :]
    return message


def _tools(function: Any) -> Any:
    """ACEBench's tool specs with their schemas in JSON Schema's type names; anything that
    is not a list of specs is left for validation to refuse."""
    if not isinstance(function, list):
        return function
    return [
        {**tool, "parameters": _json_schema(tool["parameters"])}
        if isinstance(tool, dict) and "parameters" in tool
        else tool
        for tool in function
    ]


def _json_schema(schema: Any) -> Any:
    """`schema` with Python type names replaced by JSON Schema's, in every subschema."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    fixed = dict(schema)
    if isinstance(fixed.get("type"), str):
        fixed["type"] = _JSON_TYPES.get(fixed["type"], fixed["type"])
    if isinstance(fixed.get("properties"), dict):
        fixed["properties"] = {k: _json_schema(v) for k, v in fixed["properties"].items()}
    for key in _SUBSCHEMAS:
        if key in fixed:
            fixed[key] = _json_schema(fixed[key])
    return fixed
