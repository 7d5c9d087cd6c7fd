"""Shared fixtures. The autouse guard makes any attempt to reach a real provider fail."""

from __future__ import annotations

import importlib.util
import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from postgres_server import postgres_server, postgres_url  # noqa: F401  (fixtures, every folder)

from reflexrl import RewardTable, Suite, build_agent, load_model, train
from reflexrl.records import Episode, RunInfo, Step

PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "REFLEXRL_MODEL", "OPENAI_BASE_URL")


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or isinstance(address, str | bytes)  # unix sockets


def _check(address: Any) -> None:
    if not _is_loopback(address):
        pytest.fail(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test on any connection off the loopback; unset provider keys and model.

    Guards `socket.connect` (what asyncio's own loop and blocking clients use) and uvloop's
    `create_connection`, which connects in C without it (httpx/anyio on reflexrl's loop).
    """
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        _check(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    _guard_uvloop(monkeypatch)
    yield


def _guard_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        import uvloop
    except ImportError:
        return
    real = uvloop.Loop.create_connection

    async def create_connection(
        self: Any, factory: Any, host: Any = None, *args: Any, **kw: Any
    ) -> Any:
        if host is not None:
            _check((host, args[0] if args else kw.get("port")))
        return await real(self, factory, host, *args, **kw)

    monkeypatch.setattr(uvloop.Loop, "create_connection", create_connection)


@pytest.fixture(scope="session")
def paper() -> Suite:
    """The bundled paper suite."""
    return Suite.load("paper")


def _tools_module(name: str) -> ModuleType:
    """tools/NAME.py, imported by path (as a suite's `function:` does)."""
    path = Path(__file__).parents[1] / "tools" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_tools_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def paper_tools() -> ModuleType:
    """tools/paper.py."""
    return _tools_module("paper")


@pytest.fixture(scope="session")
def assistant_tools() -> ModuleType:
    """tools/assistant.py."""
    return _tools_module("assistant")


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[RewardTable]:
    """A fresh SQLite memory file."""
    table = RewardTable(tmp_path / "memory.db")
    yield table
    table.close()


def train_scripted(path: Path, suite: Suite, policies: tuple[str, ...], **settings: Any) -> None:
    """Train scripted policies (`fake:` specs) one after the other into the memory at `path`,
    2 epochs each."""
    memory = RewardTable(path)
    for policy in policies:
        agent = build_agent(load_model(f"fake:{policy}", suite), suite, memory, **settings)
        train(agent, suite, memory, epochs=2, seed=1, **settings)
    memory.close()


@pytest.fixture(scope="session")
def export_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log for exports: a policy that always calls the suite's first tool (wrong for most
    queries), one that always asks and one that always calls a valid tool, so every situation
    holds wrong, neutral and right decisions. (Scripted models test the machinery; they say
    nothing about learning.)"""
    path = tmp_path_factory.mktemp("export") / "memory.db"
    train_scripted(path, Suite.load("paper"), ("first", "clarify", "oracle"))
    return path


HOSTILE = (
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
    " \"quoted\" 'single' & </td></tr><b>bold</b>"
)
"""Text that would run, load or break the page if it were not escaped."""


@pytest.fixture(scope="session")
def ui_memory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A memory for the page: the paper suite trained by wrong-tool, asking and valid-tool
    policies, plus a run whose one episode is hostile text everywhere a user's or a model's
    text goes (prompt, query, action, arguments, messages, memory block)."""
    path = tmp_path_factory.mktemp("ui") / "memory.db"
    train_scripted(path, Suite.load("paper"), ("first", "clarify", "oracle"))
    steps = (
        Step(0, HOSTILE, HOSTILE, {"x": HOSTILE}, -1.0, False),
        Step(1, HOSTILE, "ask_user_for_clarification", {"question": HOSTILE}, 0.0, False),
    )
    messages = (
        {"type": "human", "data": {"content": HOSTILE}},
        {"type": "ai", "data": {"content": HOSTILE, "tool_calls": [{"name": HOSTILE, "args": {}}]}},
    )
    episode = Episode(
        "hostile-run",
        0,
        1,
        "paper",
        HOSTILE,
        HOSTILE,
        False,
        "max_steps",
        steps,
        messages,
        (HOSTILE, HOSTILE),
    )
    with RewardTable(path) as memory:
        memory.start_run(RunInfo("hostile-run", "paper", HOSTILE, 0, 1, 4))
        memory.record_episode(episode)
        memory.finish_run("hostile-run", "completed")
    return path
