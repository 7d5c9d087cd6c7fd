"""Suites: the orchestration environment (queries, prompt variations, tools, valid tools).

A suite is a YAML file validated with pydantic; the query -> valid tools mapping in it is the
reward model. Bundled suites live in the repository's `evals/suites/` (inside the wheel:
`reflexrl/_bundled/evals/suites/`); their tool functions live in `tools/`.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import SuiteError
from ..records import CLARIFY, DECLINE, INVALID_CALL
from ..rewards.answer_key import RewardModel, RewardWeights, ToolMappingReward

__all__ = [
    "ITEMS_PREFIX",
    "MAX_PROMPT_CHARS",
    "MAX_SUITE_BYTES",
    "QuerySpec",
    "Suite",
    "SuiteSpec",
    "ToolSpec",
    "bundled_suites",
]


ITEMS_PREFIX = "items:"
"""How a suite argument names a JSON Lines file of items (`items:FILE.jsonl`)."""
MAX_SUITE_BYTES = 10_000_000
"""The largest suite file read (10 MB): a suite is a few hundred prompts, not a data dump."""
MAX_PROMPT_CHARS = 20_000
"""The longest prompt a suite may hold: every visit stores it again in the log, and every
call sends it to the model."""

_PACKAGE = Path(__file__).resolve().parents[1]
_BUNDLED_DIRS = (_PACKAGE / "_bundled" / "evals" / "suites", _PACKAGE.parent / "evals" / "suites")


class ToolSpec(BaseModel):
    """One tool: its name, the description the agent reads, and `path.py:function`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
    description: str = Field(min_length=1)
    function: str = Field(pattern=r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$")

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if name in (CLARIFY, INVALID_CALL, DECLINE):
            raise ValueError(f"'{name}' is reserved by reflexrl")
        return name


class QuerySpec(BaseModel):
    """One query: its prompt variations and the tools that fulfil it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    description: str = ""
    valid_tools: list[str] = Field(min_length=1)
    prompts: list[str] = Field(min_length=1)

    @field_validator("prompts")
    @classmethod
    def _usable_prompts(cls, prompts: list[str]) -> list[str]:
        for i, prompt in enumerate(prompts):
            if not prompt.strip():
                raise ValueError(f"prompt {i} is empty")
            if len(prompt) > MAX_PROMPT_CHARS:
                msg = f"prompt {i} has {len(prompt)} characters (at most {MAX_PROMPT_CHARS})"
                raise ValueError(msg)
        return prompts


class SuiteSpec(BaseModel):
    """The validated content of a suite file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    reward: RewardWeights = RewardWeights()
    tools: list[ToolSpec] = Field(min_length=1)
    queries: list[QuerySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SuiteSpec:
        _check_unique([t.name for t in self.tools], "tool name", lambda i: f"tools.{i}.name")
        _check_unique([q.id for q in self.queries], "query id", lambda i: f"queries.{i}.id")
        names = {t.name for t in self.tools}
        seen: dict[str, str] = {}
        for qi, query in enumerate(self.queries):
            for ti, tool in enumerate(query.valid_tools):
                if tool not in names:
                    raise ValueError(f"queries.{qi}.valid_tools.{ti}: unknown tool '{tool}'")
            for pi, prompt in enumerate(query.prompts):
                where = f"queries.{qi}.prompts.{pi}"
                if prompt in seen:
                    raise ValueError(f"{where}: duplicate prompt (also at {seen[prompt]})")
                seen[prompt] = where
        return self


def _check_unique(values: list[str], what: str, field: Callable[[int], str]) -> None:
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in first:
            raise ValueError(f"{field(i)}: duplicate {what} '{value}'")
        first[value] = i


class Suite:
    """A loaded suite: its spec, its reward model and its LangChain tools.

    Use `Suite.load("paper")` for a bundled suite or `Suite.load("path/to/suite.yaml")`.
    """

    declines: bool = False
    """Whether declining (answering without a tool) is a decision with its reward."""

    def __init__(self, spec: SuiteSpec, path: Path) -> None:
        self.spec = spec
        self.path = path
        self.name = spec.name
        self.reward_model: RewardModel = ToolMappingReward.from_pairs(
            ((q.id, q.valid_tools) for q in spec.queries), spec.reward
        )
        self._check_functions()

    @classmethod
    def load(cls, name_or_path: str | Path) -> Suite:
        """Load a bundled suite by name, a suite YAML file by path, or a JSON Lines file of
        items with their own tools as `items:PATH` (`reflexrl.envs.item_suite`).

        Raises:
            SuiteError: the suite is not found or does not validate (the message names the
                file and the field).
        """
        text = str(name_or_path)
        if text.startswith(ITEMS_PREFIX):
            from .item_suite import ItemSuite  # noqa: PLC0415  (it subclasses Suite)

            return ItemSuite.from_file(text.removeprefix(ITEMS_PREFIX))
        path = _resolve(text)
        return cls(_parse(path), path)

    def valid_actions(self, query: str) -> frozenset[str]:
        """The actions that serve `query` (its valid tools)."""
        return next(frozenset(q.valid_tools) for q in self.spec.queries if q.id == query)

    def offered_tools(self, query: str) -> tuple[dict[str, Any], ...] | None:
        """The tools a query's requests come with (OpenAI function specs), or None: the
        suite's own tools, which the agent is built with."""
        return None

    def request_context(self, query: str) -> str:
        """What a query's requests are said in, shown to the agent with them (an item's
        `context`); empty: nothing."""
        return ""

    def prompts(self, split: str = "all", holdout: int = 0) -> Iterator[tuple[str, str]]:
        """Every (query id, prompt) pair of a split, in file order.

        Args:
            split: "all"; "train": all but the last `holdout` prompts of each query;
                "heldout": those last `holdout` prompts only.
            holdout: Prompts held out per query.
        """
        for query in self.spec.queries:
            for prompt in self.prompts_of(query.id, split, holdout):
                yield query.id, prompt

    def ambiguous_prompts(self) -> frozenset[str]:
        """The prompts that stand in two queries, up to case, punctuation and "please" (a
        suite cannot hold one text twice: the ambiguous pairs of the workplace suite differ
        by a "please"). For them a clarifying question is needed."""
        queries: dict[tuple[str, ...], set[str]] = {}
        for query, prompt in self.prompts():
            queries.setdefault(_words(prompt), set()).add(query)
        return frozenset(p for _, p in self.prompts() if len(queries[_words(p)]) > 1)

    def check_holdout(self, holdout: int) -> None:
        """Refuse a holdout that leaves a query no training prompt."""
        for query in self.spec.queries:
            if holdout >= len(query.prompts):
                msg = (
                    f"holdout {holdout}: query {query.id} of suite {self.name} has "
                    f"{len(query.prompts)} prompts; training needs at least one"
                )
                raise SuiteError(msg)

    def prompts_of(self, query: str, split: str = "all", holdout: int = 0) -> list[str]:
        """The prompt variations of one query (of a split: see `prompts`)."""
        prompts = next(q.prompts for q in self.spec.queries if q.id == query)
        cut = len(prompts) - holdout
        if split == "train":
            return prompts[:cut]
        return prompts[cut:] if split == "heldout" else list(prompts)

    @property
    def tool_names(self) -> list[str]:
        """Tool names in file order (the first is what `fake:first` picks)."""
        return [t.name for t in self.spec.tools]

    @cached_property
    def tools(self) -> list[BaseTool]:
        """The suite's tools as LangChain tools, loaded from their files."""
        return [self._tool(i, spec) for i, spec in enumerate(self.spec.tools)]

    def _tool(self, index: int, spec: ToolSpec) -> BaseTool:
        where = f"{self.path}: tools.{index}.function"
        module = _import(self._function_file(spec), where)
        name = spec.function.rsplit(":", 1)[1]
        if not hasattr(module, name):
            raise SuiteError(f"{where}: '{spec.function}' not found (no '{name}' in the module)")
        func = getattr(module, name)
        if not callable(func):
            raise SuiteError(f"{where}: '{spec.function}' is not a function")
        return StructuredTool.from_function(
            func, name=spec.name, description=spec.description, handle_tool_error=True
        )

    def _function_file(self, spec: ToolSpec) -> Path:
        return (self.path.parent / spec.function.rsplit(":", 1)[0]).resolve()

    def _check_functions(self) -> None:
        for i, spec in enumerate(self.spec.tools):
            if not self._function_file(spec).is_file():
                msg = f"{self.path}: tools.{i}.function: no file {self._function_file(spec)}"
                raise SuiteError(msg)


def bundled_suites() -> dict[str, Path]:
    """Bundled suite names and their files."""
    found: dict[str, Path] = {}
    for folder in _BUNDLED_DIRS:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found.setdefault(path.stem, path)
    return found


def _resolve(name_or_path: str) -> Path:
    bundled = bundled_suites()
    if name_or_path in bundled:
        return bundled[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path.resolve()
    names = ", ".join(sorted(bundled)) or "none"
    msg = f"{name_or_path}: no such suite file or bundled suite (bundled: {names})"
    raise SuiteError(msg)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: nine anchors of nine aliases in 459 bytes expand to 9^9 nodes,
    and a suite has no use for them."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a suite", mark
            )
        return super().compose_node(parent, index)


def _parse(path: Path) -> SuiteSpec:
    try:
        if path.stat().st_size > MAX_SUITE_BYTES:
            raise SuiteError(f"{path}: larger than {MAX_SUITE_BYTES:,} bytes: not a suite file")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)
    except UnicodeDecodeError as exc:
        raise SuiteError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise SuiteError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if "alias" not in problem:
            problem = f"YAML syntax error: {problem}"
        raise SuiteError(f"{path}: {where}: {problem}") from exc
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: top level: expected a mapping of suite fields")
    _check_unicode(data, path, "")
    try:
        return SuiteSpec.model_validate(data)
    except ValidationError as exc:
        raise SuiteError(f"{path}: {_first_error(exc)}") from exc


def _check_unicode(value: object, path: Path, where: str) -> None:
    """Refuse a string that is not valid Unicode (a lone surrogate, from a YAML escape such
    as "\\ud800"): it could not be stored or sent."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"{path}: {where or 'top level'}: not valid Unicode (character {exc.start})"
            raise SuiteError(msg) from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key, path, where)
            _check_unicode(item, path, f"{where}.{key}".lstrip("."))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_unicode(item, path, f"{where}.{i}")


def _words(prompt: str) -> tuple[str, ...]:
    return tuple(w for w in re.findall(r"[a-z0-9']+", prompt.casefold()) if w != "please")


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    message = error["msg"].removeprefix("Value error, ")
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc}: {message}" if loc else message


_MODULES: dict[Path, ModuleType] = {}


def _import(path: Path, where: str) -> ModuleType:
    """The tool module at `path`, imported once (running its top-level code)."""
    if path not in _MODULES:
        spec = importlib.util.spec_from_file_location(f"reflexrl_tools_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise SuiteError(f"{where}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:
            raise SuiteError(f"{where}: importing {path} failed: {_describe(exc)}") from exc
        _MODULES[path] = module
    return _MODULES[path]


def _describe(exc: BaseException) -> str:
    """One line: the exception's type and message (and a syntax error's line)."""
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
