"""The hosted-provider path, for real: HTTP to llama-cpp-python's OpenAI-compatible server.

The server runs on loopback with the SmolLM2 weights; `openai:` and `litellm:` specs point at
it with --base-url and run a short training through the real client libraries.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from reflexrl import RewardTable
from reflexrl.models.local.registry import LOCAL_MODELS, verified_path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None, reason="the [local] extra is not installed"
    ),
]
TOOLS = Path(__file__).resolve().parents[2] / "tools" / "paper.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"llama server at {url} did not answer in {seconds} s")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = verified_path(LOCAL_MODELS["smollm2"])
    port = _free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias",
        "smollm2", "--host", "127.0.0.1", "--port", str(port), "--chat_format",
        "chatml-function-calling", "--n_ctx", "4096", "--verbose", "False",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    suite = {
        "name": "tiny",
        "tools": [
            {"name": "calculator", "description": "Compute arithmetic.", "function": f"{TOOLS}:calculator"},
            {"name": "python_interpreter", "description": "Run Python code.", "function": f"{TOOLS}:python_interpreter"},
        ],
        "queries": [
            {"id": "add", "valid_tools": ["calculator"], "prompts": ["What is 5 plus 5?", "Add 2 and 3."]},
            {"id": "loop", "valid_tools": ["python_interpreter"], "prompts": ["Loop: add 5 four times."]},
        ],
    }  # fmt: skip
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


@pytest.mark.parametrize("spec", ["openai:smollm2", "litellm:openai/smollm2"])
def test_short_training_through_the_server(
    spec: str, server_url: str, tiny_suite: Path, tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if spec.startswith("litellm:"):
        env["OPENAI_API_KEY"] = "sk-local"  # LiteLLM's OpenAI route insists on a key
    cmd = [
        sys.executable, "-m", "reflexrl", "train", "--suite", str(tiny_suite), "--model", spec,
        "--base-url", server_url, "--epochs", "1", "--max-steps", "2", "--memory", str(db),
        "--json",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["episodes"] == 3
    table = RewardTable(db)
    run = table.runs()[-1]
    episodes = table.episodes(run.run_id)
    assert run.status == "completed" and len(episodes) == 3
    replies = [m for e in episodes for m in e.messages if m["type"] == "ai"]
    assert len(replies) >= 3  # every episode got at least one answer over HTTP
    assert all("smollm2" in str(m["data"]["response_metadata"]) for m in replies)
