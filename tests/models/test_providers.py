"""Short training runs through the real client libraries (openai, anthropic, litellm) over HTTP,
against a loopback stub that answers in each provider's wire format (tests/stub_provider.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from stub_provider import StubProvider

from reflexrl import RewardTable, Suite, evaluate, load_model, train
from reflexrl.agent.build import build_agent
from reflexrl.errors import EpisodeError
from reflexrl.models.call_policy import ModelCallMiddleware
from reflexrl.models.retry import RetryPolicy
from reflexrl.prompt.block import OPEN_TAG
from reflexrl.usage import price_for

SPECS = {
    "openai": ("openai:gpt-4.1-mini", "openai_url"),
    "anthropic": ("anthropic:claude-sonnet-4-6", "url"),
    "litellm-openai": ("litellm:openai/gpt-4.1-mini", "openai_url"),
    "litellm-anthropic": ("litellm:anthropic/claude-sonnet-4-6", "url"),
}
FAST = RetryPolicy(retries=3, base_delay=0.01, max_delay=0.05)
# Under the stub's injected "timeout" (it sleeps 1.5 s); only the test that injects one uses it,
# since a loaded machine can take longer than this to answer an ordinary call.
SHORT_TIMEOUT = 0.5


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider(timeout_sleep=1.5) as provider:
        yield provider


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")


def _agent(
    name: str, stub: StubProvider, suite: Suite, memory: RewardTable, retry=FAST, timeout=30.0
):  # type: ignore[no-untyped-def]
    spec, url_attr = SPECS[name]
    model = load_model(spec, suite, base_url=getattr(stub, url_attr), timeout=timeout)
    calls = ModelCallMiddleware(spec, retry=retry, price=price_for(spec))
    return spec, calls, build_agent(model, suite, memory, calls=calls)


def _assert_exact(memory: RewardTable, run_id: str) -> None:
    """The aggregates equal the sums of the logged steps of the run's episodes."""
    steps = [s for e in memory.episodes(run_id) for s in e.steps]
    for row in memory.rows():
        mine = [s for s in steps if s.credit_key == row.prompt]
        assert row.visits == len(mine) and row.reward == sum(s.reward for s in mine)
    assert sum(r.visits for r in memory.rows()) == len(steps)


@pytest.mark.parametrize("name", list(SPECS))
def test_training_through_each_client(
    name: str, stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, calls, agent = _agent(name, stub, paper, memory)
    result = train(agent, paper, memory, epochs=1, seed=0, model=spec, concurrency=4)
    assert result.status == "completed" and len(result.episodes) == 30
    _assert_exact(memory, result.run_id)
    assert result.usage.calls == stub.calls == calls.totals.calls
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.usage.cost is not None and result.usage.cost > 0
    assert {e.usage.calls for e in result.episodes} <= set(range(1, 6))
    tools = {s.action for e in result.episodes for s in e.steps}
    assert len(tools) >= 3  # the stub's choices depend on the request: real tool calls parsed


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_one_model_serves_several_runs_without_stale_connections(
    name: str, stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    """The blocking API keeps its event loop between runs, so the connections a model pooled
    in one run still work in the next (with a loop per run they are dead: every call on one
    fails and is retried)."""
    spec, calls, agent = _agent(name, stub, paper, memory)
    first = train(agent, paper, memory, epochs=1, seed=0, model=spec, concurrency=4)
    evaluated = evaluate(agent, paper, seed=0, model=spec, concurrency=4)
    second = train(agent, paper, memory, epochs=1, seed=1, model=spec, concurrency=4)
    assert first.status == second.status == "completed" and not evaluated.failures
    assert calls.totals.retries == 0 and calls.totals.calls == stub.calls


@pytest.mark.parametrize("name", ["anthropic", "litellm-anthropic"])
def test_anthropic_static_prefix_is_marked_and_cache_hits_are_reported(
    name: str, stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, _, agent = _agent(name, stub, paper, memory)
    result = train(agent, paper, memory, epochs=1, seed=0, model=spec)
    system = stub.requests[-1]["body"]["system"]
    assert isinstance(system, list) and system[0]["cache_control"] == {"type": "ephemeral"}
    assert len(system) == 2 and system[1]["text"].startswith(OPEN_TAG)
    assert OPEN_TAG not in system[0]["text"]
    assert "cache_control" not in system[1]
    assert result.usage.cache_write_tokens > 0
    assert result.usage.cache_hits >= result.usage.calls - 1 > 0
    assert result.usage.cache_read_tokens > 0


def test_openai_requests_stay_plain_text(
    stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, _, agent = _agent("openai", stub, paper, memory)
    train(agent, paper, memory, epochs=1, seed=0, model=spec)
    system = stub.requests[-1]["body"]["messages"][0]
    assert system["role"] == "system" and isinstance(system["content"], str)


@pytest.mark.parametrize("name", list(SPECS))
def test_rate_limits_server_errors_and_timeouts_are_retried_and_counted(
    name: str, stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, calls, agent = _agent(name, stub, paper, memory, timeout=SHORT_TIMEOUT)
    stub.fail_next(429, 500, "timeout", 503)
    result = train(agent, paper, memory, epochs=1, seed=0, model=spec, concurrency=2)
    assert stub.faults_served == [429, 500, "timeout", 503]
    assert result.status == "completed" and len(result.episodes) == 30
    assert result.usage.retries == calls.totals.retries == 4
    assert sum(e.usage.retries for e in result.episodes) == 4
    _assert_exact(memory, result.run_id)


def test_an_episode_out_of_retries_is_logged_and_retried_on_resume(
    stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, _, agent = _agent("openai", stub, paper, memory, RetryPolicy(retries=1, base_delay=0))
    stub.fail_next(500, 500)  # the first episode's call, then its one retry
    first = train(agent, paper, memory, epochs=1, seed=0, model=spec)
    assert first.status == "incomplete" and len(first.episodes) == 29 and first.unfinished == 1
    (failure,) = memory.failures(first.run_id)
    assert failure.index == 0 and "500" in failure.error and failure.usage.retries == 1
    visits = sum(r.visits for r in memory.rows())
    again = train(agent, paper, memory, epochs=1, seed=0, model=spec, resume=first.run_id)
    assert again.status == "completed" and len(again.episodes) == 30
    assert [e.index for e in again.episodes] == list(range(30))
    assert sum(r.visits for r in memory.rows()) == visits + len(again.episodes[0].steps)
    _assert_exact(memory, first.run_id)
    retried = sum(e.usage.retries for e in again.episodes)
    assert again.usage.retries == retried + 1  # the failed attempt's spending stays on the books


def test_a_dead_endpoint_stops_the_run_after_five_failures_in_a_row(
    stub: StubProvider, paper: Suite, memory: RewardTable
) -> None:
    spec, _, agent = _agent("openai", stub, paper, memory)
    stub.fail_next(*[401] * 5)  # not worth retrying: each fails at once
    with pytest.raises(
        EpisodeError, match="5 episodes in a row failed, last: OpenAIAuthenticationError"
    ):
        train(agent, paper, memory, epochs=1, seed=0, model=spec)
    (run,) = memory.runs()
    assert run.status == "failed" and len(memory.failures(run.run_id)) == 5
    assert memory.episodes(run.run_id) == [] and memory.rows() == []


def test_headers_reach_the_provider(stub: StubProvider, paper: Suite, tmp_path: Path) -> None:
    model = load_model(
        "openai:gpt-4.1-mini", paper, base_url=stub.openai_url, headers={"X-Team": "ml-evals-42"}
    )
    memory = RewardTable(tmp_path / "m.db")
    train(build_agent(model, paper, memory), paper, memory, epochs=1, model="openai:x")
    assert all(r["headers"].get("x-team") == "ml-evals-42" for r in stub.requests)
    assert "ml-evals-42" not in json.dumps([r.settings for r in memory.runs()])
