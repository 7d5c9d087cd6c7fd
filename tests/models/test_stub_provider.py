"""The offline stub provider, driven by the real client libraries over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from stub_provider import StubProvider

SCRIPT = Path(__file__).resolve().parents[1] / "stub_provider.py"
SYSTEM = "You are a travel agent. Pick a tool for every request, or ask when it is ambiguous."
MEMORY = "\n<reflexrl_memory>\n{}\n</reflexrl_memory>"
SCHEMA = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
    "required": ["query", "limit"],
}
CLARIFY_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}},
    "required": ["question"],
}
NAMES = ["search_flights", "ask_user_for_clarification"]
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": NAMES[0], "description": "Search.", "parameters": SCHEMA},
    },
    {
        "type": "function",
        "function": {"name": NAMES[1], "description": "Ask.", "parameters": CLARIFY_SCHEMA},
    },
]
ANTHROPIC_TOOLS = [
    {"name": NAMES[0], "description": "Search.", "input_schema": SCHEMA},
    {"name": NAMES[1], "description": "Ask.", "input_schema": CLARIFY_SCHEMA},
]
REQUEST = "Book me a flight to Lisbon."


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        yield provider


def _openai(stub: StubProvider, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.openai_url, api_key="sk-test", max_retries=0, **kwargs)


def _anthropic(stub: StubProvider) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub.url, api_key="sk-test", max_retries=0)


def _chat(client: openai.OpenAI, system: str = SYSTEM, messages: list[Any] | None = None) -> Any:
    messages = messages or [{"role": "user", "content": REQUEST}]
    return client.chat.completions.create(
        model="stub",
        messages=[{"role": "system", "content": system}, *messages],
        tools=OPENAI_TOOLS,
    )


def _expected_tool(system: str, request: str, names: list[str]) -> str:
    return names[
        int(hashlib.sha256(f"{system}\x00{request}".encode()).hexdigest(), 16) % len(names)
    ]


def test_openai_tool_call_usage_and_automatic_cache(stub: StubProvider) -> None:
    client = _openai(stub)
    first = _chat(client, system=SYSTEM + MEMORY.format("Ask when the dates are missing."))
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == _expected_tool(
        SYSTEM + MEMORY.format("Ask when the dates are missing."), REQUEST, NAMES
    )
    args = json.loads(call.function.arguments)
    assert args == {"query" if call.function.name == NAMES[0] else "question": REQUEST}
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.usage.completion_tokens == 12
    assert first.usage.total_tokens == first.usage.prompt_tokens + 12
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    second = _chat(client, system=SYSTEM + MEMORY.format("Ask for the number of travellers."))
    assert 0 < second.usage.prompt_tokens_details.cached_tokens <= second.usage.prompt_tokens
    assert stub.calls == 2
    assert stub.requests[0]["path"] == "/v1/chat/completions"
    assert stub.requests[0]["headers"]["authorization"] == "Bearer sk-test"
    assert stub.requests[0]["body"]["tools"] == OPENAI_TOOLS


def test_choice_depends_on_the_whole_system_text(stub: StubProvider) -> None:
    names = [f"tool_{i}" for i in range(7)]
    tools = [{"type": "function", "function": {"name": n, "parameters": {}}} for n in names]
    client = _openai(stub)
    chosen = set()
    for lesson in range(6):
        system = f"{SYSTEM}<reflexrl_memory>lesson {lesson}</reflexrl_memory>"
        reply = client.chat.completions.create(
            model="stub",
            messages=[
                {"role": "developer", "content": [{"type": "text", "text": system}]},
                {"role": "user", "content": REQUEST},
            ],
            tools=tools,
        )
        call = reply.choices[0].message.tool_calls[0]
        assert call.function.name == _expected_tool(system, REQUEST, names)
        assert json.loads(call.function.arguments) == {}
        chosen.add(call.function.name)
    assert len(chosen) > 1


def test_anthropic_explicit_cache(stub: StubProvider) -> None:
    client = _anthropic(stub)
    system: Any = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]

    def ask() -> Any:
        return client.messages.create(
            model="stub",
            max_tokens=64,
            system=system,
            tools=ANTHROPIC_TOOLS,
            messages=[{"role": "user", "content": REQUEST}],
        )

    first, second = ask(), ask()
    block = first.content[0]
    assert block.type == "tool_use"
    assert block.name == _expected_tool(SYSTEM, REQUEST, NAMES)
    assert block.input == {"query" if block.name == NAMES[0] else "question": REQUEST}
    assert first.stop_reason == "tool_use"
    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens >= 1
    assert stub.requests[0]["path"] == "/v1/messages"
    headers = stub.requests[0]["headers"]  # anthropic 2.x sends the key as a bearer token
    assert headers.get("x-api-key") == "sk-test" or headers["authorization"] == "Bearer sk-test"


def test_tool_result_gets_done_openai(stub: StubProvider) -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": NAMES[0], "arguments": "{}"}}
    history = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_9", "content": "3 flights found"},
    ]
    reply = _chat(_openai(stub), messages=history)
    assert reply.choices[0].message.content == "Done."
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == 3


def test_clarification_answer_is_the_new_request_openai(stub: StubProvider) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": NAMES[1], "arguments": "{}"}}
    answer = "Next Friday, one adult."
    history = [
        {"role": "user", "content": REQUEST},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": answer}]},
    ]
    reply = _chat(_openai(stub), messages=history)
    call_out = reply.choices[0].message.tool_calls[0]
    assert call_out.function.name == _expected_tool(SYSTEM, answer, NAMES)
    assert answer in call_out.function.arguments


def test_tool_result_gets_done_anthropic(stub: StubProvider) -> None:
    history: Any = [
        {"role": "user", "content": REQUEST},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_9", "name": NAMES[0], "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "ok"}],
        },
    ]
    reply = _anthropic(stub).messages.create(
        model="stub", max_tokens=64, system=SYSTEM, tools=ANTHROPIC_TOOLS, messages=history
    )
    assert [(b.type, getattr(b, "text", None)) for b in reply.content] == [("text", "Done.")]
    assert reply.stop_reason == "end_turn"
    assert reply.usage.cache_creation_input_tokens == 0
    assert reply.usage.cache_read_input_tokens == 0  # no cache_control: nothing cached


def test_openai_faults(stub: StubProvider) -> None:
    client = _openai(stub)
    stub.fail_next(429, 500, "drop")
    with pytest.raises(openai.RateLimitError) as rate:
        _chat(client)
    assert rate.value.response.headers["retry-after"] == "0"
    assert rate.value.response.headers["x-request-id"].startswith("req_stub_")
    assert rate.value.body == {
        "message": "stub: 429",
        "type": "rate_limit_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.InternalServerError):
        _chat(client)
    with pytest.raises(openai.APIConnectionError):
        _chat(client)
    assert stub.calls == 0
    assert _chat(client).choices[0].message.tool_calls
    assert stub.faults_served == [429, 500, "drop"]
    assert stub.calls == 1
    assert len(stub.requests) == 4


def test_openai_timeout_fault() -> None:
    with StubProvider(timeout_sleep=1.0) as stub:
        stub.fail_next("timeout")
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            _chat(_openai(stub, timeout=0.3))
        assert time.monotonic() - started < 0.9
        assert stub.faults_served == ["timeout"]


def test_anthropic_overloaded(stub: StubProvider) -> None:
    stub.fail_next(529, 401)
    client = _anthropic(stub)
    kwargs: Any = {
        "model": "stub",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with pytest.raises(anthropic.InternalServerError) as overloaded:
        client.messages.create(**kwargs)
    assert overloaded.value.status_code == 529
    assert isinstance(overloaded.value, anthropic.OverloadedError)
    assert overloaded.value.response.headers["retry-after"] == "0"
    assert overloaded.value.response.headers["request-id"].startswith("req_stub_")
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(**kwargs)
    no_tools = client.messages.create(**kwargs)
    assert no_tools.content[0].type == "text"  # without tools the answer is text


def test_models_stats_and_unknown_routes(stub: StubProvider) -> None:
    assert [m.id for m in _openai(stub).models.list()] == ["stub"]
    with urllib.request.urlopen(f"{stub.url}/stats") as resp:
        assert json.load(resp) == {"calls": 0, "requests": 1}
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{stub.url}/v2/nothing")
    assert missing.value.code == 404
    assert json.load(missing.value)["error"]["type"] == "not_found_error"


def test_litellm_completion(stub: StubProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = pytest.importorskip("litellm")
    reply = litellm.completion(
        model="openai/stub",
        api_base=stub.openai_url,
        api_key="sk-test",
        num_retries=0,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": REQUEST}],
        tools=OPENAI_TOOLS,
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == _expected_tool(SYSTEM, REQUEST, NAMES)
    assert json.loads(call.function.arguments)
    claude = litellm.completion(
        model="anthropic/stub",
        api_base=stub.url,
        api_key="sk-test",
        num_retries=0,
        max_tokens=64,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": REQUEST}],
        tools=OPENAI_TOOLS,
    )
    assert claude.choices[0].message.tool_calls[0].function.name == call.function.name
    assert [r["path"] for r in stub.requests] == ["/v1/chat/completions", "/v1/messages"]


def test_langchain_clients(stub: StubProvider) -> None:
    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI

    messages = [("system", SYSTEM), ("human", REQUEST)]
    gpt = ChatOpenAI(model="stub", base_url=stub.openai_url, api_key="sk-test", max_retries=0)
    claude = ChatAnthropic(model="stub", base_url=stub.url, api_key="sk-test", max_retries=0)
    for chat, tools in ((gpt, OPENAI_TOOLS), (claude, ANTHROPIC_TOOLS)):
        reply = chat.bind_tools(tools).invoke(messages)
        assert reply.tool_calls[0]["name"] == _expected_tool(SYSTEM, REQUEST, NAMES)
        assert reply.usage_metadata["output_tokens"] == 12
    assert stub.calls == 2


def test_script_mode() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--delay", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY"
        assert ready[1].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{ready[1]}/stats", timeout=5) as resp:
            assert json.load(resp) == {"calls": 0, "requests": 0}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert out == ""


def test_concurrent_requests() -> None:
    with StubProvider(delay=0.2) as stub:
        client = _openai(stub)
        started = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            replies = list(
                pool.map(
                    lambda i: _chat(client, messages=[{"role": "user", "content": f"r{i}"}]),
                    range(32),
                )
            )
        elapsed = time.monotonic() - started
    print(f"32 concurrent requests with delay 0.2 s: {elapsed:.2f} s")
    assert all(r.choices[0].message.tool_calls for r in replies)
    assert stub.calls == 32
    assert elapsed < 2.0
