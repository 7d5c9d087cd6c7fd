"""The sandbox's former address, kept so that `reflexrl.sandbox.run_python` (as the README
once wrote it) still imports: the code lives in `reflexrl.safety.sandbox`."""

from .safety.sandbox import (
    SandboxLimits,
    SandboxResult,
    SandboxUnavailableError,
    run_python,
    sandbox_unavailable,
)

__all__ = [
    "SandboxLimits",
    "SandboxResult",
    "SandboxUnavailableError",
    "run_python",
    "sandbox_unavailable",
]
