"""reflexrl: teach tool-using agents when to ask for clarification, by verbal RL.

The public API is what `__all__` lists; everything else may change.
"""

from .agent import build_agent
from .budget import Budget
from .calls import ModelCallMiddleware
from .clarification import ask_user_for_clarification
from .episode import EpisodeContext
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
from .exploration import EpsilonSchedule
from .export import ExportOptions, ExportResult, export_records, tool_reward
from .fake_models import PolicyChatModel, ScriptedChatModel
from .memory import (
    KnnLookup,
    MemoryReader,
    MemoryStore,
    Neighbour,
    RewardTable,
    open_memory,
)
from .metrics import Metrics
from .middleware import ReflexMiddleware
from .models import load_model
from .rate_limit import RateLimiter
from .records import CLARIFY, ActionStats, Episode, Failure, MemoryRow, RunInfo, Step
from .render import (
    RENDERINGS,
    PromptMemory,
    prompt_memory,
    render_advice,
    render_focused,
    render_paper,
)
from .report import Report, build_report
from .response_cache import ResponseCache
from .retry import RetryPolicy
from .reward import RewardModel, RewardWeights, ToolMappingReward
from .run_config import RunConfig
from .runner import EvalResult, TrainResult, aevaluate, atrain, evaluate, train
from .simulated_user import RephrasingUser, SimulatedUser
from .suite import Suite
from .usage import Price, Usage, price_for
from .wrap import wrap

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
