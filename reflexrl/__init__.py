"""reflexrl: teach tool-using agents when to ask for clarification, by verbal RL.

The public API is what `__all__` lists; everything else may change.
"""

from .agent.build import build_agent
from .agent.middleware import ReflexMiddleware
from .agent.wrap import wrap
from .envs.clarification import ask_user_for_clarification
from .envs.context import EpisodeContext
from .envs.exploration import EpsilonSchedule
from .envs.simulated_user import RephrasingUser, SimulatedUser
from .envs.suite import Suite
from .errors import (
    BadInputError,
    BudgetExceededError,
    EpisodeError,
    MemoryNotFoundError,
    MemoryStoreError,
    ModelSpecError,
    ReflexRLError,
    SuiteError,
)
from .export import ExportOptions, ExportResult, export_records, tool_reward
from .loop.config import RunConfig
from .loop.metrics import Metrics
from .loop.report import Report, build_report
from .loop.runner import EvalResult, TrainResult, aevaluate, atrain, evaluate, train
from .memory import (
    KnnLookup,
    MemoryReader,
    MemoryStore,
    Neighbour,
    RewardTable,
    open_memory,
)
from .models.budget import Budget
from .models.call_policy import ModelCallMiddleware
from .models.fake import PolicyChatModel, ScriptedChatModel
from .models.rate_limit import RateLimiter
from .models.response_cache import ResponseCache
from .models.retry import RetryPolicy
from .models.specs import load_model
from .prompt.render import (
    RENDERINGS,
    PromptMemory,
    prompt_memory,
    render_advice,
    render_focused,
    render_paper,
)
from .records import CLARIFY, ActionStats, Episode, Failure, MemoryRow, RunInfo, Step
from .rewards.answer_key import RewardModel, RewardWeights, ToolMappingReward
from .usage import Price, Usage, price_for

__version__ = "0.1.0"

__all__ = [
    "CLARIFY",
    "RENDERINGS",
    "ActionStats",
    "BadInputError",
    "Budget",
    "BudgetExceededError",
    "Episode",
    "EpisodeContext",
    "EpisodeError",
    "EpsilonSchedule",
    "EvalResult",
    "ExportOptions",
    "ExportResult",
    "Failure",
    "KnnLookup",
    "MemoryNotFoundError",
    "MemoryReader",
    "MemoryRow",
    "MemoryStore",
    "MemoryStoreError",
    "Metrics",
    "ModelCallMiddleware",
    "ModelSpecError",
    "Neighbour",
    "PolicyChatModel",
    "Price",
    "PromptMemory",
    "RateLimiter",
    "ReflexMiddleware",
    "ReflexRLError",
    "RephrasingUser",
    "Report",
    "ResponseCache",
    "RetryPolicy",
    "RewardModel",
    "RewardTable",
    "RewardWeights",
    "RunConfig",
    "RunInfo",
    "ScriptedChatModel",
    "SimulatedUser",
    "Step",
    "Suite",
    "SuiteError",
    "ToolMappingReward",
    "TrainResult",
    "Usage",
    "aevaluate",
    "ask_user_for_clarification",
    "atrain",
    "build_agent",
    "build_report",
    "evaluate",
    "export_records",
    "load_model",
    "open_memory",
    "price_for",
    "prompt_memory",
    "render_advice",
    "render_focused",
    "render_paper",
    "tool_reward",
    "train",
    "wrap",
]
