"""Shared fixtures. The autouse guard makes any attempt to reach a real provider fail."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reflexrl import RewardTable, Suite

PROVIDER_KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "REFLEXRL_MODEL", "OPENAI_BASE_URL")


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or isinstance(address, str | bytes)  # unix sockets


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test on any connection off the loopback; unset provider keys and model."""
    for key in PROVIDER_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            pytest.fail(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(scope="session")
def paper() -> Suite:
    """The bundled paper suite."""
    return Suite.load("paper")


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[RewardTable]:
    """A fresh SQLite memory file."""
    table = RewardTable(tmp_path / "memory.db")
    yield table
    table.close()
