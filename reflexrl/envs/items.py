"""Items: benchmark requests that expect one behaviour (call a tool, ask, or decline).

An item file is JSON Lines, one `Item` per line: the question, the tools offered with it
(JSON-schema specs, as a provider takes them), the expected behaviour and, for a `call`
item, the gold tools. Unlike a suite, every item brings its own tools and no tool runs: the
decision is what is scored.

Every error is a `SuiteError` naming the file, the line and the field, so a broken file can
be fixed without guessing.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import SuiteError
from ..files.atomic import check_output, write_text_atomically
from ..records import CLARIFY, DECLINE, INVALID_CALL, Kind
from .suite import MAX_PROMPT_CHARS, _first_error

__all__ = [
    "MAX_ITEMS_BYTES",
    "Behaviour",
    "Item",
    "ItemTool",
    "read_items",
    "read_json_lines",
    "write_items",
]

Behaviour = Kind
"""What an item expects: call one of its gold tools, ask for clarification, or decline."""

MAX_ITEMS_BYTES = 50_000_000
"""The largest item file read (50 MB): a benchmark of thousands of items, each with its
tools, is a few MB; more is a data dump, not a benchmark."""

_RESERVED = (CLARIFY, INVALID_CALL, DECLINE)
"""Names of the agent's own actions: an offered tool by such a name would be mistaken for
asking, a failed call, or declining."""

# Wider than a suite's tool name: ACEBench names a tool with 68 characters and tools
# "5G_Technology_Report_Finder" and "5G_City_Application_Summary". An item file records the
# benchmark as it is; OpenAI caps a tool name at 64 characters (a-z, 0-9, `_`, `-`) and
# Gemini wants a letter or `_` first, so a runner sending such a name must map it.
_TOOL_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class ItemTool(BaseModel):
    """One tool offered with an item: a JSON-schema function spec (never run)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=_TOOL_NAME)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in _RESERVED:
            raise ValueError(f"'{name}' is reserved by reflexrl")
        return name

    @field_validator("parameters")
    @classmethod
    def _object_schema(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        """A provider takes only an object schema for a tool's arguments."""
        if parameters.get("type") != "object":
            kind = (
                json.dumps(parameters["type"], default=str) if "type" in parameters else "no type"
            )
            raise ValueError(f'expected a JSON schema of "type": "object" (got {kind})')
        if not isinstance(parameters.get("properties", {}), dict):
            raise ValueError("properties: expected a mapping of parameter schemas")
        return parameters

    def to_openai(self) -> dict[str, Any]:
        """The tool in OpenAI's `tools` format (also what LangChain's `bind_tools` takes)."""
        spec = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": spec}


class Item(BaseModel):
    """One request, the tools offered with it, and the behaviour it expects.

    `tools` is required even when empty (an item that can only be asked about or declined):
    with unknown keys ignored, a misspelt `tools` would otherwise pass as "no tools".
    `answer` is the benchmark's own answer, kept for reference and never scored.
    `context` is shown to the agent beside the question, not part of it (the memory is
    keyed by the question alone).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(max_length=MAX_PROMPT_CHARS)
    tools: list[ItemTool]
    expected: Behaviour
    gold_tools: list[str] = Field(default_factory=list)
    source: str = ""
    answer: Any = None
    context: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    """What the request is said in, shown to the agent with it: ACEBench's `time` ("Today
    is Saturday, March 12, 2022."), which a relative date in the question needs."""

    @field_validator("question")
    @classmethod
    def _not_blank(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("the question is blank")
        return question

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        first: dict[str, int] = {}
        for i, tool in enumerate(self.tools):
            if tool.name in first:
                also = f"also tools.{first[tool.name]}"
                raise ValueError(f"tools.{i}.name: duplicate tool name '{tool.name}' ({also})")
            first[tool.name] = i
        self._check_gold(set(first))
        return self

    def _check_gold(self, names: set[str]) -> None:
        if self.expected != "call":
            if self.gold_tools:
                raise ValueError(f"gold_tools: must be empty on an '{self.expected}' item")
            return
        if not self.gold_tools:
            raise ValueError("gold_tools: a 'call' item needs at least one gold tool")
        for i, name in enumerate(self.gold_tools):
            if name not in names:
                raise ValueError(f"gold_tools.{i}: '{name}' is not one of the item's tools")
            if name in self.gold_tools[:i]:
                raise ValueError(f"gold_tools.{i}: duplicate gold tool '{name}'")


def read_items(path: str | Path) -> list[Item]:
    """The items of a JSON Lines file, in file order (blank lines skipped).

    Raises:
        SuiteError: the file is missing, too large, not UTF-8, or empty; a line is not a JSON
            object or does not validate; two lines share an id. The message names the file,
            the line and the field.
    """
    items: list[Item] = []
    lines: dict[str, int] = {}
    for number, data in read_json_lines(path):
        where = f"{path}: line {number}"
        item = _validate(data, where)
        if item.id in lines:
            raise SuiteError(
                f"{where}: id: duplicate id '{item.id}' (also on line {lines[item.id]})"
            )
        lines[item.id] = number
        items.append(item)
    if not items:
        raise SuiteError(f"{path}: no items (an item file holds one JSON object per line)")
    return items


def read_json_lines(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSON Lines file with their line numbers (blank lines skipped).

    Strict: no NaN or Infinity (JSON has none; they would be written back as invalid JSON),
    no lone surrogate from a `\\ud800` escape (it could not be written out as UTF-8).

    Raises:
        SuiteError: the file is missing, not a regular file, over `MAX_ITEMS_BYTES`, not
            UTF-8; a line is not JSON or not an object. The message names the file and line.
    """
    text = _read_text(Path(path))
    found: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            found.append((number, _load_object(line, f"{path}: line {number}")))
    return found


def write_items(items: Iterable[Item], path: str | Path) -> int:
    """Write `items` as JSON Lines (one compact object per line, UTF-8 text rather than
    `\\u` escapes), whole or not at all; the number written.

    Refuses what `read_items` would refuse to read back: no items, or two with one id.

    Raises:
        SuiteError: no items, or a duplicate id.
        BadInputError: `path` is a directory, a device, or in a missing or unwritable folder.
    """
    path = Path(path)
    lines: list[str] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.id in seen:
            raise SuiteError(f"{path}: duplicate id '{item.id}' (items {seen[item.id]} and {i})")
        seen[item.id] = i
        data = item.model_dump(mode="json")
        lines.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    if not lines:
        raise SuiteError(f"{path}: no items to write")
    check_output(path)
    write_text_atomically(path, "".join(f"{line}\n" for line in lines))
    return len(lines)


def _read_text(path: Path) -> str:
    """The file's text, if it is a regular file within the size bound and UTF-8 (a leading
    byte-order mark is dropped)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, a device never end
            raise SuiteError(f"{path}: not a regular file")
        with path.open("rb") as file:
            data = file.read(MAX_ITEMS_BYTES + 1)
    except OSError as exc:
        raise SuiteError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_ITEMS_BYTES:
        raise SuiteError(f"{path}: larger than {MAX_ITEMS_BYTES:,} bytes: not an item file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SuiteError(f"{path}: line {line}: not UTF-8 text (byte {exc.start})") from exc


def _validate(data: dict[str, Any], where: str) -> Item:
    try:
        return Item.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{where}: {_first_error(exc)}") from exc


def _load_object(line: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{where}: not JSON: {exc.msg} (column {exc.colno})") from exc
    except ValueError as exc:
        raise SuiteError(f"{where}: not JSON: {exc}") from exc
    except RecursionError as exc:
        raise SuiteError(f"{where}: not JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: top level: expected a JSON object (got {_json_kind(data)})")
    bad = _bad_unicode(data, "")
    if bad is not None:
        raise SuiteError(f"{where}: {bad}: not valid Unicode (a lone surrogate)")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _bad_unicode(value: Any, where: str) -> str | None:
    """Where the first string (or key) that is not valid Unicode is; None: there is none."""
    if isinstance(value, str):
        return None if _encodes(value) else where or "top level"
    children: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        if not all(_encodes(key) for key in value):
            return f"{where or 'top level'} (a key)"
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        found = _bad_unicode(child, f"{where}.{key}".lstrip("."))
        if found is not None:
            return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
