"""Model specs resolve to the provider's LangChain class (no request is made)."""

from __future__ import annotations

import pytest

from reflexrl import load_model
from reflexrl.errors import ModelSpecError
from reflexrl.models.fake import PolicyChatModel
from reflexrl.models.specs import choose_model


@pytest.mark.parametrize(
    ("spec", "key", "cls"),
    [
        ("anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY", "ChatAnthropic"),
        ("openai:gpt-4.1-mini", "OPENAI_API_KEY", "ChatOpenAI"),
        ("litellm:openai/gpt-4.1-mini", "OPENAI_API_KEY", "ChatLiteLLM"),
    ],
)
def test_hosted_specs_build_their_client(
    spec: str, key: str, cls: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(key, "sk-test-not-a-real-key")
    assert type(load_model(spec)).__name__ == cls


def test_fake_specs_and_unknown_policy() -> None:
    assert isinstance(load_model("fake:clarify"), PolicyChatModel)
    with pytest.raises(ModelSpecError, match="unknown fake policy 'wise'"):
        load_model("fake:wise")


def test_default_model_choice() -> None:
    assert choose_model("fake:first").reason == "--model"
    assert choose_model(None, {"REFLEXRL_MODEL": "openai:x"}).spec == "openai:x"
    assert choose_model(None, {"OPENAI_API_KEY": "k"}).spec.startswith("openai:")
    assert choose_model(None, {"ANTHROPIC_API_KEY": "k", "OPENAI_API_KEY": "k"}).spec.startswith(
        "anthropic:"
    )
    assert choose_model(None, {}).spec.startswith("local:")


def test_openai_models_use_the_aiohttp_transport_unless_a_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from httpx_aiohttp import HttpxAiohttpClient

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    fast = load_model("openai:gpt-4.1-mini")
    assert isinstance(fast.http_async_client, HttpxAiohttpClient)  # type: ignore[attr-defined]
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = load_model("openai:gpt-4.1-mini")
    assert proxied.http_async_client is None  # type: ignore[attr-defined]  (httpx, which honours the proxy)


def test_a_local_gguf_file_is_a_model_spec_and_a_missing_or_broken_one_is_refused(
    tmp_path,
) -> None:
    pytest.importorskip("llama_cpp")
    with pytest.raises(ModelSpecError, match="missing; no such file"):
        load_model(f"local:{tmp_path / 'none.gguf'}")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(ModelSpecError, match="cannot load"):
        load_model(f"local:{broken}")
    with pytest.raises(ModelSpecError, match=r"or local:PATH\.gguf"):
        load_model("local:tiny-llama")
