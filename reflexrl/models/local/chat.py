"""`LocalChatModel`: an embedded llama.cpp model as a LangChain tool-calling chat model.

A small model (135M-270M parameters) does not write reliable tool calls: greedy decoding under
a grammar of tool names collapses to the first tool. So each decision scores every bound
action (the tools and `ask_user_for_clarification`) by its log-likelihood as the reply to the
prompt the model sees, calibrated against the same under an empty request (see `decide`). The
prompt is the tool list, the system text, the current request and then reflexrl's memory
block (cut out of the system text, without its line quoting the request the model has just
read), right before the reply: small models follow what they read last. The choice comes
only from the model's scores over that text; no code reads the memory store.

Tool arguments and the final answer follow `ActionChatModel`'s rules.
"""

from __future__ import annotations

import math
import os
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage
from pydantic import PrivateAttr

from ...envs.trajectory import current_prompt
from ...errors import ModelSpecError
from ...prompt.block import is_silent, split_memory, without_request
from ...records import CLARIFY, DECLINE
from ..action import ActionChatModel
from .registry import INSTALL_HINT, LocalModelInfo, local_threads, model_info, runtime_path
from .scoring import PrefixScorer, parallel_context

_SCORERS: dict[str, PrefixScorer] = {}
_LOAD_LOCK = threading.Lock()

TEMPLATES = {
    "chatml": (
        "<|im_start|>system\n{tools}\n\n{system}<|im_end|>\n"
        "<|im_start|>user\n{request}<|im_end|>\n{context}<|im_start|>assistant\nTool:"
    ),
    "plain": "{tools}\n\n{system}\n\nUser request: {request}\n{context}Tool:",
}
CONTEXT = {"chatml": "<|im_start|>system\n{text}<|im_end|>\n", "plain": "{text}\n"}


def load_scorer(info: LocalModelInfo, n_ctx: int = 4096) -> PrefixScorer:
    """One scorer (one loaded model) per model, verified once, shared by every copy."""
    with _LOAD_LOCK:
        if info.name not in _SCORERS:
            path = runtime_path(info)
            try:
                from llama_cpp import Llama  # noqa: PLC0415  (optional dependency)
            except ImportError as exc:
                msg = f"local:{info.name} needs llama-cpp-python: {INSTALL_HINT}"
                raise ModelSpecError(msg, setting="model") from exc
            threads = local_threads() or os.cpu_count() or 1
            try:
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    verbose=False,
                    seed=0,
                    n_threads=threads,
                    n_threads_batch=threads,
                )
            except ValueError as exc:  # llama.cpp refused the file
                msg = f"local:{info.name}: cannot load {path} ({exc})"
                raise ModelSpecError(msg, setting="model") from exc
            parallel_context(llama)
            _SCORERS[info.name] = PrefixScorer(llama)
    return _SCORERS[info.name]


@dataclass(frozen=True)
class ScoredChoice:
    """One choice and the scores it came from (log-likelihoods of each action name)."""

    action: str
    scores: dict[str, float]
    calibration: dict[str, float]


class LocalChatModel(ActionChatModel):
    """A `local:<name>` model: a calibrated log-likelihood choice among the bound actions."""

    model_name: str
    temperature: float = 0.0
    """0: always the best-scoring action (frozen evaluation); above 0, actions are sampled
    from a softmax of the calibrated scores, so a training run explores."""
    seed: int = 0
    decline: bool = False
    """Score declining (answering without a tool) as one more action: for requests that
    expect a behaviour, where no offered tool may fit (item suites)."""
    _calibration: dict[tuple[str, ...], dict[str, float]] = PrivateAttr(default_factory=dict)
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def model_post_init(self, context: Any) -> None:
        """Seed the sampling generator."""
        self._rng = random.Random(f"reflexrl:local:{self.seed}")

    @property
    def _llm_type(self) -> str:
        return f"reflexrl-local-{self.model_name}"

    @property
    def info(self) -> LocalModelInfo:
        """The registry entry of this model."""
        return model_info(self.model_name)

    def choose_action(self, messages: Sequence[BaseMessage]) -> str:
        """The action `decide` picks."""
        return self.decide(messages).action

    def decide(self, messages: Sequence[BaseMessage]) -> ScoredChoice:
        """Choose an action for the latest request.

        The tool is the one whose log-likelihood rises most over its log-likelihood under an
        empty request (calibration). Asking wins over that tool when the model prefers asking
        to it by more than it does for an empty request: it asks when it is less sure than
        with no information at all, or when its prompt (the memory) tells it to. With a
        temperature, both choices are sampled from the same scores (softmax, logistic).
        """
        if not self.bound_tools:
            raise ModelSpecError(f"local:{self.model_name}: bind tools before calling the model")
        static, context = _system_parts(messages)
        names = [t["name"] for t in self.bound_tools] + ([DECLINE] if self.decline else [])
        scorer = load_scorer(self.info)
        prompt = self.prompt(static, current_prompt(messages) or "", context)
        raw = _by_name(scorer.score(prompt, [f" {n}" for n in names]))
        cal = self._calibrate(scorer, static, tuple(names))
        return ScoredChoice(pick_action(raw, cal, self.temperature, self._rng), raw, cal)

    def prompt(self, system: str, request: str, context: str | None = None) -> str:
        """The text the model reads: tools, static system prompt, request, then the memory."""
        lines = [
            f"- {t['name']}: {_first_line(t.get('description', ''))}" for t in self.bound_tools
        ]
        if self.decline:
            lines.append(f"- {DECLINE}: {DECLINE_TEXT}")
        tools = "You can call one of these tools:\n" + "\n".join(lines)
        kind = self.info.template
        if context and is_silent(context):
            context = None
        if context:
            context = without_request(context, request)
        extra = CONTEXT[kind].format(text=context.strip()) if context else ""
        return TEMPLATES[kind].format(
            tools=tools, system=system.strip(), request=request.strip(), context=extra
        )

    def _calibrate(
        self, scorer: PrefixScorer, static: str, names: tuple[str, ...]
    ) -> dict[str, float]:
        key = (static, *names)
        if key not in self._calibration:
            empty = scorer.score(self.prompt(static, ""), [f" {n}" for n in names])
            self._calibration[key] = _by_name(empty)
        return self._calibration[key]


DECLINE_TEXT = "no offered tool serves the request; answer without calling one"
"""How the decline action is described in the tool list the model reads."""


def pick_action(
    raw: dict[str, float], cal: dict[str, float], temperature: float = 0.0, rng: Any = None
) -> str:
    """The decision rule of `LocalChatModel.decide`, on raw and calibration scores by name:
    the tool that rises most over its calibration; then asking or declining instead, each
    by how much more the model prefers it to that tool than it does for an empty request."""
    others = [a for a in (CLARIFY, DECLINE) if a in raw]
    tools = [n for n in raw if n not in others] or others[:1]
    tool = _pick({n: raw[n] - cal[n] for n in tools}, temperature, rng)
    if tool in others:
        return tool
    best_prior = max(cal[n] for n in tools)
    margins = {a: raw[a] - raw[tool] - (cal[a] - best_prior) for a in others}
    return _pick({**margins, tool: 0.0}, temperature, rng)


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _pick(scores: dict[str, float], temperature: float, rng: Any) -> str:
    """The best key at temperature 0, else a draw from softmax(scores / temperature)."""
    best = max(scores, key=lambda k: scores[k])
    if temperature <= 0:
        return best
    weights = [math.exp((scores[k] - scores[best]) / temperature) for k in scores]
    return str(rng.choices(list(scores), weights=weights)[0])


def _by_name(scores: Mapping[str, float]) -> dict[str, float]:
    return {name.strip(): value for name, value in scores.items()}


def _system_parts(messages: Sequence[BaseMessage]) -> tuple[str, str | None]:
    """The system text before reflexrl's memory block, and the block (None if there is none)."""
    text = "\n\n".join(m.text for m in messages if isinstance(m, SystemMessage))
    return split_memory(text)
