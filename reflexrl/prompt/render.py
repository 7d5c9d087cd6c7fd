"""The address the README (`prompt.render.RENDERINGS`), the benchmark scripts and the CLI
import these names from; the code lives in `instructions`, `renderers` and `preview`."""

from .instructions import MEMORY_NOTE, REWARD_RULES
from .preview import prompt_memory
from .renderers import RENDERINGS, get_renderer

__all__ = ["MEMORY_NOTE", "RENDERINGS", "REWARD_RULES", "get_renderer", "prompt_memory"]
