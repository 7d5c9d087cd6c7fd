"""The sandbox's former address, kept so that `reflexrl.sandbox.run_python` (as the README
once wrote it) still imports: the code lives in `reflexrl.safety.sandbox`."""

from .safety.sandbox import *  # noqa: F403  (the names its `__all__` lists)
