"""reflexrl: teach tool-using agents when to ask for clarification, by verbal RL.

The public API is what `__all__` lists; everything else may change.
"""

from .agent import build_agent
from .clarification import ask_user_for_clarification
from .episode import EpisodeContext
from .errors import (
    BadInputError,
    EpisodeError,
    MemoryNotFoundError,
    MemoryStoreError,
    ModelSpecError,
    ReflexRLError,
    SuiteError,
)
from .exploration import EpsilonSchedule
from .fake_models import PolicyChatModel, ScriptedChatModel
from .metrics import Metrics
from .middleware import ReflexMiddleware
from .models import load_model
from .records import CLARIFY, ActionStats, Episode, MemoryRow, RunInfo, Step
from .render import RENDERINGS, render_focused, render_paper
from .report import Report, build_report
from .reward import RewardModel, RewardWeights, ToolMappingReward
from .reward_table import RewardTable
from .runner import EvalResult, TrainResult, evaluate, train
from .simulated_user import RephrasingUser, SimulatedUser
from .store import MemoryStore
from .suite import Suite
from .wrap import wrap

__version__ = "0.1.0"

__all__ = [
    "CLARIFY",
    "RENDERINGS",
    "ActionStats",
    "BadInputError",
    "Episode",
    "EpisodeContext",
    "EpisodeError",
    "EpsilonSchedule",
    "EvalResult",
    "MemoryNotFoundError",
    "MemoryRow",
    "MemoryStore",
    "MemoryStoreError",
    "Metrics",
    "ModelSpecError",
    "PolicyChatModel",
    "ReflexMiddleware",
    "ReflexRLError",
    "RephrasingUser",
    "Report",
    "RewardModel",
    "RewardTable",
    "RewardWeights",
    "RunInfo",
    "ScriptedChatModel",
    "SimulatedUser",
    "Step",
    "Suite",
    "SuiteError",
    "ToolMappingReward",
    "TrainResult",
    "ask_user_for_clarification",
    "build_agent",
    "build_report",
    "evaluate",
    "load_model",
    "render_focused",
    "render_paper",
    "train",
    "wrap",
]
