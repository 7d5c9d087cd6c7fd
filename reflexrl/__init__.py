"""reflexrl: teach tool-using agents when to ask for clarification, by verbal RL.

The public API is what `__all__` lists: what the README's examples use. Everything else is
reached through its subpackage (`reflexrl.records`, `reflexrl.loop`, `reflexrl.export`, ...).
"""

from .agent.build import build_agent
from .agent.learning import Learning, wait_for_judges
from .agent.middleware import ReflexMiddleware
from .agent.wrap import wrap
from .envs.clarification import ask_user_for_clarification
from .envs.context import EpisodeContext
from .envs.simulated_user import SimulatedUser
from .envs.suite import Suite
from .errors import BadInputError, ReflexRLError
from .export import export_records, tool_reward
from .loop.calibrate import calibrate_judge
from .loop.config import RunConfig
from .loop.evaluate import aevaluate, evaluate
from .loop.train import atrain, train
from .memory import KnnLookup, MemoryReader, MemoryStore, RewardTable, SQLiteMemory, open_memory
from .models.budget import Budget
from .models.call_policy import ModelCallMiddleware
from .models.judging import load_judge
from .models.rate_limit import RateLimiter
from .models.response_cache import ResponseCache
from .models.retry import RetryPolicy
from .models.specs import load_model
from .prompt import RENDERINGS
from .rewards.answer_key import RewardModel, ToolMappingReward
from .rewards.feedback import Feedback
from .rewards.judge import Judge
from .rewards.online import Credited, feedback, give_feedback
from .rewards.sources import AnswerKey, Outcomes, RewardSource
from .rewards.training import JudgedRewards
from .usage import price_for

__version__ = "0.1.0"

__all__ = [
    "RENDERINGS",
    "AnswerKey",
    "BadInputError",
    "Budget",
    "Credited",
    "EpisodeContext",
    "Feedback",
    "Judge",
    "JudgedRewards",
    "KnnLookup",
    "Learning",
    "MemoryReader",
    "MemoryStore",
    "ModelCallMiddleware",
    "Outcomes",
    "RateLimiter",
    "ReflexMiddleware",
    "ReflexRLError",
    "ResponseCache",
    "RetryPolicy",
    "RewardModel",
    "RewardSource",
    "RewardTable",
    "RunConfig",
    "SQLiteMemory",
    "SimulatedUser",
    "Suite",
    "ToolMappingReward",
    "aevaluate",
    "ask_user_for_clarification",
    "atrain",
    "build_agent",
    "calibrate_judge",
    "evaluate",
    "export_records",
    "feedback",
    "give_feedback",
    "load_judge",
    "load_model",
    "open_memory",
    "price_for",
    "tool_reward",
    "train",
    "wait_for_judges",
    "wrap",
]
