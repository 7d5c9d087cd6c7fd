"""Model specs: `provider:model` strings turned into LangChain chat models.

`anthropic:<model>`, `openai:<model>` and `litellm:<model>` go through
`langchain.chat_models.init_chat_model`; `fake:oracle|first|clarify` are scripted test
doubles; `local:smollm2` and `local:gemma3-270m` are embedded llama.cpp models (extra `local`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, get_args
from urllib.request import getproxies

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from .. import event_loop
from ..errors import ModelSpecError
from ..safety import redaction as secrets
from .fake import FakePolicy, PolicyChatModel
from .local.registry import DEFAULT_LOCAL, model_info

__all__ = [
    "API_KEYS",
    "BASE_URL_ARG",
    "DEFAULT_HOSTED",
    "HEADERS_ARG",
    "HOSTED",
    "PROVIDERS",
    "TIMEOUT_ARG",
    "ModelChoice",
    "choose_model",
    "load_model",
]

if TYPE_CHECKING:
    from ..envs.suite import Suite

API_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
DEFAULT_HOSTED = {"anthropic": "anthropic:claude-sonnet-4-6", "openai": "openai:gpt-4.1-mini"}
HOSTED = ("anthropic", "openai", "litellm")
"""Providers reached over HTTP (the ones `--base-url` and `--header` apply to)."""
PROVIDERS = (*HOSTED, "local", "fake")
BASE_URL_ARG = {"anthropic": "base_url", "openai": "base_url", "litellm": "api_base"}
HEADERS_ARG = {
    "anthropic": "default_headers",
    "openai": "default_headers",
    "litellm": "extra_headers",
}
TIMEOUT_ARG = {"anthropic": "timeout", "openai": "timeout", "litellm": "request_timeout"}


@dataclass(frozen=True)
class ModelChoice:
    """Which model runs, and why (printed so a user knows what they are paying for)."""

    spec: str
    reason: str


def choose_model(spec: str | None, env: Mapping[str, str] = os.environ) -> ModelChoice:
    """`--model`, else `REFLEXRL_MODEL`, else a hosted model whose key is set, else local."""
    if spec:
        return ModelChoice(spec, "--model")
    if env.get("REFLEXRL_MODEL"):
        return ModelChoice(env["REFLEXRL_MODEL"], "REFLEXRL_MODEL is set")
    for provider, key in API_KEYS.items():
        if env.get(key):
            return ModelChoice(DEFAULT_HOSTED[provider], f"{key} is set")
    return ModelChoice(f"local:{DEFAULT_LOCAL}", "no --model, REFLEXRL_MODEL or API key is set")


def load_model(
    spec: str,
    suite: Suite | None = None,
    *,
    base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> BaseChatModel:
    """A chat model for a spec; `fake:oracle` needs the suite (its answer key).

    A hosted model is made with its client's own retries off (`max_retries=0`): reflexrl's
    `ModelCallMiddleware` retries, so that every retry is counted and waits on the limits.

    Args:
        spec: `provider:model`.
        suite: The suite (only `fake:oracle` reads it).
        base_url: Endpoint of a hosted provider or of any OpenAI-compatible server (for
            `openai:` the `OPENAI_BASE_URL` variable works too; without a key, a placeholder
            key is sent, as local servers do not check it).
        headers: Extra HTTP headers sent with every request (their values are treated as
            secrets: never logged or stored).
        timeout: Seconds before a request is abandoned (and retried).
        **kwargs: Passed to the provider's chat model (`temperature`, `max_tokens`, ...).

    Raises:
        ModelSpecError: unknown spec, unavailable provider, or missing API key.
    """
    provider, _, name = spec.partition(":")
    if not name or provider not in PROVIDERS:
        known = ", ".join(f"{p}:NAME" for p in PROVIDERS)
        msg = f"unknown model spec '{spec}' (use {known})"
        raise ModelSpecError(msg, setting="model")
    if provider == "fake":
        return _fake(name, suite)
    if provider == "local":
        declines = suite is not None and suite.declines
        return _local(name, **({"decline": True} if declines else {}), **kwargs)
    if provider == "litellm":
        _import_litellm(spec)
    kwargs = _client_kwargs(provider, kwargs, headers, timeout)
    if provider == "openai" and "http_async_client" not in kwargs and not getproxies():
        kwargs["http_async_client"] = _aiohttp_client()
    base_url = base_url or (os.environ.get("OPENAI_BASE_URL") if provider == "openai" else None)
    if base_url:
        kwargs[BASE_URL_ARG[provider]] = base_url
        if provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = "sk-no-key-needed"
    else:
        _check_credentials(provider, name, spec)
    return init_chat_model(name, model_provider=provider, **kwargs)


def _client_kwargs(
    provider: str,
    kwargs: dict[str, Any],
    headers: Mapping[str, str] | None,
    timeout: float | None,
) -> dict[str, Any]:
    """Client options under each provider's own names; the client's retries off."""
    kwargs = {"max_retries": 0, **kwargs}
    if provider == "litellm":  # ChatLiteLLM does not pass max_retries on to LiteLLM
        kwargs["model_kwargs"] = {
            "max_retries": 0,
            "num_retries": 0,
            **kwargs.get("model_kwargs", {}),
        }
    if headers:
        for value in headers.values():
            secrets.register(value)
        kwargs[HEADERS_ARG[provider]] = dict(headers)
    if timeout is not None:
        kwargs[TIMEOUT_ARG[provider]] = timeout
    return kwargs


def _aiohttp_client() -> Any:
    """aiohttp under the openai SDK: less CPU per call than httpx at high concurrency (httpcore
    checks every pooled connection on each request). It ignores proxy variables, so
    `load_model` keeps httpx when one is set. Closed at exit on reflexrl's loop."""
    from openai import DefaultAioHttpClient  # noqa: PLC0415  (openai: specs only)

    return event_loop.close_at_exit(DefaultAioHttpClient())


def _local(name: str, **kwargs: Any) -> BaseChatModel:
    from .local.chat import LocalChatModel, load_scorer  # noqa: PLC0415  (needs numpy)

    info = model_info(name)
    load_scorer(info)  # verifies the file and loads it now: errors before anything is written
    return LocalChatModel(model_name=name, **kwargs)


def _fake(name: str, suite: Suite | None) -> BaseChatModel:
    policies = get_args(FakePolicy)
    if name not in policies:
        raise ModelSpecError(
            f"unknown fake policy '{name}' (use {', '.join(policies)})", setting="model"
        )
    answer_key = {}
    if suite is not None:
        answer_key = {p: sorted(suite.valid_actions(q)) for q, p in suite.prompts()}
    return PolicyChatModel(policy=cast(FakePolicy, name), answer_key=answer_key)


def _check_credentials(provider: str, name: str, spec: str) -> None:
    if provider in API_KEYS:
        if not os.environ.get(API_KEYS[provider]):
            raise ModelSpecError(
                f"'{spec}' needs the {API_KEYS[provider]} variable", setting="model"
            )
        return
    missing = _import_litellm(spec).validate_environment(model=name).get("missing_keys") or []
    if missing:
        raise ModelSpecError(
            f"'{spec}' needs the {', '.join(missing)} variable(s)", setting="model"
        )


def _import_litellm(spec: str) -> Any:
    """LiteLLM, offline (its packaged price map) and quiet: its "Give Feedback / Get Help"
    banners go to stdout, which `--json` output owns."""
    if importlib.util.find_spec("litellm") is None:
        msg = f"'{spec}' needs LiteLLM: pip install 'reflexrl[litellm]'"
        raise ModelSpecError(msg, setting="model")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
    import litellm  # noqa: PLC0415  (heavy, and only for litellm: specs)

    litellm.suppress_debug_info = True
    return litellm
