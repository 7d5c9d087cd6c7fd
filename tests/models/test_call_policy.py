"""The pieces of a model call's policy: backoff, rate limits, budget, prices, redaction."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from langchain.agents.middleware import ModelRequest, ModelResponse
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from reflexrl.errors import BudgetExceededError
from reflexrl.models.budget import Budget
from reflexrl.models.call_policy import ModelCallMiddleware
from reflexrl.models.rate_limit import RateLimiter, Reservation
from reflexrl.models.response_cache import ResponseCache
from reflexrl.models.retry import RetryPolicy, is_transient, retry_after
from reflexrl.safety import redaction as secrets
from reflexrl.usage import Price, Usage, price_for


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError("boom", response=response, body=None)


def test_transient_errors_are_retried_others_are_not() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1")
    assert is_transient(_status_error(429)) and is_transient(_status_error(529))
    assert is_transient(_status_error(500)) and is_transient(openai.APITimeoutError(request))
    assert is_transient(openai.APIConnectionError(request=request))
    assert not is_transient(_status_error(401)) and not is_transient(_status_error(400))
    assert not is_transient(ValueError("bad tool arguments"))


def test_backoff_is_jittered_exponential_and_honours_retry_after() -> None:
    policy = RetryPolicy(retries=3, base_delay=1.0, max_delay=4.0, rng=random.Random(0))
    error = _status_error(500)
    windows = [policy.delay(attempt, error) for attempt in range(3)]
    assert all(d is not None and 0 <= d <= w for d, w in zip(windows, (1, 2, 4), strict=True))
    assert policy.delay(3, error) is None  # out of retries
    assert retry_after(_status_error(429, {"retry-after": "7"})) == 7.0
    assert retry_after(_status_error(429, {"retry-after-ms": "250"})) == 0.25
    slow = policy.delay(0, _status_error(429, {"retry-after": "30"}))
    assert slow == 30.0  # never shorter than the server asked, even past max_delay


def test_rate_limiter_window() -> None:
    now = [0.0]
    limiter = RateLimiter(rpm=2, tpm=1000, clock=lambda: now[0])
    first = limiter.wait(100)
    assert isinstance(first, Reservation)
    assert isinstance(limiter.wait(100), Reservation)
    assert limiter.wait(100) == 60.0  # third request in the same minute waits for the first
    now[0] = 60.0
    first_again = limiter.wait(100)
    assert isinstance(first_again, Reservation)
    first_again.settle(950)  # the call used far more than estimated
    now[0] = 61.0
    assert limiter.wait(100) == pytest.approx(59.0)  # 950 + 100 > 1000 tokens per minute


def test_budget_refuses_the_call_that_could_overspend() -> None:
    budget = Budget(limit=1.0)
    held = budget.reserve()
    budget.settle(held, 0.4)
    held = budget.reserve()  # 0.4 spent + 0.4 estimated <= 1.0
    budget.settle(held, 0.4)
    with pytest.raises(BudgetExceededError, match="max_cost: "):
        budget.reserve()  # 0.8 + 0.4 > 1.0
    assert budget.spent == pytest.approx(0.8)


def test_prices_come_from_litellm_and_count_cache_reads() -> None:
    price = price_for("anthropic:claude-sonnet-4-6")
    assert isinstance(price, Price) and price.input > 0 and price.cache_read < price.input
    usage = Usage(calls=1, input_tokens=1000, output_tokens=100, cache_read_tokens=800)
    expected = 200 * price.input + 800 * price.cache_read + 100 * price.output
    assert price.cost(usage) == pytest.approx(expected)
    assert price_for("fake:oracle") == price_for("local:smollm2") and price_for("fake:x")
    assert price_for("openai:no-such-model-anywhere") is None
    assert (Usage(cost=1.0) + Usage(cost=None)).cost is None


def test_redact_removes_env_keys_registered_values_and_bearer_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "sk-live-abcdef123456")
    secrets.register("header-secret-987654")
    text = "key sk-live-abcdef123456, header header-secret-987654, Bearer tok_0123456789ab"
    cleaned = secrets.redact(text)
    assert "abcdef123456" not in cleaned and "987654" not in cleaned
    assert "tok_0123456789ab" not in cleaned and cleaned.count("[redacted]") == 3


def test_prices_are_read_without_importing_litellm() -> None:
    """LiteLLM's import takes seconds and doubles the heap a run's garbage collector walks:
    `openai:`/`anthropic:` runs read its price file instead."""
    code = (
        "import sys; from reflexrl.usage import price_for; "
        "p = price_for('openai:gpt-4.1-mini'); "
        "print(p is not None and p.input > 0, 'litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_short_header_value_is_cut_from_errors_as_a_word_not_from_everything() -> None:
    secrets.register("k7Q")  # `--header 'X-Org: k7Q'`: too short to redact everywhere
    echoed = "401: header X-Org=k7Q is not valid; k7Qx and xk7Q are other words"
    assert secrets.redact_error(echoed) == (
        "401: header X-Org=[redacted] is not valid; k7Qx and xk7Q are other words"
    )
    assert secrets.redact("the k7Q model") == "the k7Q model"  # stored conversations keep it


def test_a_call_that_fails_after_it_was_charged_releases_its_reservation_once(
    tmp_path: Path,
) -> None:
    """The reply came back and was charged, then storing it in the cache failed: the call's
    reservation is released once, not a second time by the failure."""
    cache = ResponseCache(tmp_path / "cache.db")
    puts = []

    def failing_put(*args: object) -> None:
        puts.append(args)
        if len(puts) == 1:
            raise OSError("disk full")

    cache.put = failing_put  # type: ignore[method-assign]
    budget = Budget(limit=10.0, largest_call=0.5)  # each call reserves 0.5
    policy = ModelCallMiddleware(
        "fake:first", retry=RetryPolicy(retries=1, base_delay=0.0), budget=budget, cache=cache
    )
    request = ModelRequest(
        model=GenericFakeChatModel(messages=iter([])), messages=[HumanMessage("hi")]
    )
    reply = ModelResponse(result=[AIMessage("hello")])
    with pytest.raises(OSError, match="disk full"):  # not transient: no retry
        policy.wrap_model_call(request, lambda _request: reply)
    assert budget.reserved == 0.0
