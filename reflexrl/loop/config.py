"""`RunConfig`: every setting of a training run or an evaluation, in one frozen record.

The CLI builds one from its options and the Python API takes one (or its fields as keyword
arguments): the same settings either way. A training run logs it as its settings
(`RunInfo.settings`), and a resumed run is rebuilt from that record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from ..envs.exploration import EpsilonSchedule
from ..envs.simulated_user import check_user
from ..errors import BadInputError
from ..memory import LookupKind
from ..prompt.renderers import check_rendering
from ..records import Credit
from ..rewards.training import check_reward_spec

LOCAL_DEFAULTS: dict[str, Any] = {"epsilon": 0.3, "render": "advice"}
"""What a `local:` model runs with unless told otherwise. A 135M prior finds the right tool
for few prompts, so it needs more epsilon resets than the paper's 0.05
(evals/reports/local-smollm2-origin-eps*.md); and it copies every tool name it reads, so it
is shown the advice alone: a block that also lists the tools that lost makes it pick them."""
LOCAL_TRAIN_TEMPERATURE = 2.0
"""A local model samples at this temperature in training, so that it explores; a frozen
evaluation is greedy."""

Split = Literal["all", "train", "heldout"]
"""Which prompts an evaluation visits: all, the ones training visits, or the held-out ones."""


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run. Training uses all but `split` and `use_memory`; a frozen
    evaluation uses `epochs` as its number of passes and never explores."""

    suite: str = "paper"
    """The suite: a bundled name or a YAML path (a resumed run loads it again from here)."""
    model: str = ""
    """The model spec (`anthropic:...`, `local:smollm2`, ...): a label; the agent holds the
    model."""
    epochs: int = 10
    """Passes over every prompt, each in a seeded order (an evaluation: its repeats)."""
    seed: int = 0
    """Seeds the order of the prompts, the epsilon draws, the simulated user and a local
    model's sampling: a run with the same seed and concurrency 1 is the same run."""
    max_steps: int = 4
    """Actions per episode before it ends unsuccessful."""
    credit: Credit = "origin"
    """Which prompt a reward is credited to (see `reflexrl.records.Credit`)."""
    epsilon: float = 0.05
    """Chance that a training episode sees every memory value as zero (Curuksu's paper: 0.05)."""
    epsilon_end: float | None = None
    """If set, epsilon decays linearly from `epsilon` to this over the run."""
    render: str = "focused"
    """How the memory is rendered into the system prompt (`reflexrl.RENDERINGS`): `focused`
    (the prompt's record and the advice), `advice` (the advice alone; the CLI's default for
    local models) or `paper` (every row)."""
    untried: bool = True
    """Advise a tool the prompt's memory never tried, the next to try, while no tool has
    earned a reward (False: advise the best record, asking counting 0, which can advise
    asking forever when the one tool tried was wrong)."""
    neighbour_text: bool = True
    """With the kNN lookup: quote the neighbours' prompts in the block (False: show their
    similarity and record only; in production they are other users' words)."""
    lookup: LookupKind = "exact"
    """How a prompt finds its memory: its own row (`exact`) or its nearest stored prompts
    (`knn`). Taken from the memory the run reads."""
    k: int = 5
    """kNN: neighbours per prompt."""
    threshold: float = 0.5
    """kNN: least cosine similarity of a neighbour; below it the agent is told to explore."""
    temperature: float | None = None
    """The model's sampling temperature (None: the model's own default)."""
    holdout: int = 0
    """The last `holdout` prompts of each query (in the suite's order) are held out: training
    never visits them; an evaluation can visit them alone (`split`)."""
    split: Split = "all"
    """Evaluation: visit all prompts, the training ones, or the held-out ones."""
    use_memory: bool = True
    """Evaluation: show the memory (False: the 'before' baseline)."""
    concurrency: int = 1
    """Episodes run at once (each sees the memory as of its own start)."""
    max_failures: int = 5
    """Training stops ("failed") after this many failed episodes in a row."""
    reward: str = "key"
    """What training credits the memory with (`reflexrl.rewards.training`): the answer key's
    rewards (`key`), a judge model's (`judge:MODEL`), or the key's as imperfect feedback
    (`feedback-noise:MISSING,FLIPPED`, shares of the rewards lost and flipped). The key
    still ends each episode and scores every evaluation."""
    user: str = "rephrase"
    """Who answers the agent's questions (`reflexrl.envs.simulated_user.USERS`): another
    prompt of the query (`rephrase`, Curuksu's user), or the same said with an attitude that
    gives up past its patience (`template:impatient`, ...)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "max_steps", "k", "concurrency", "max_failures"):
            if getattr(self, name) < 1:
                raise BadInputError(f"run config: {name} must be at least 1")
        if self.holdout < 0:
            raise BadInputError("run config: holdout must be at least 0")
        if self.split not in ("all", "train", "heldout"):
            raise BadInputError(f"run config: unknown split '{self.split}'")
        if self.split != "all" and self.holdout == 0:
            msg = f"'{self.split}' needs a holdout of at least 1 prompt (the prompts held out)"
            raise BadInputError(msg, setting="split")
        check_rendering(self.render, self.lookup)
        check_reward_spec(self.reward)
        check_user(self.user)
        self.schedule()  # checks epsilon

    @classmethod
    def for_model(cls, model: str, *, training: bool = True, **settings: Any) -> RunConfig:
        """The settings of a run of `model` (a spec): `settings`, and for what they leave
        unset (absent or None) the model's defaults. A `local:` model gets `LOCAL_DEFAULTS`
        and, in training, `LOCAL_TRAIN_TEMPERATURE`; the others the fields' defaults."""
        given = {k: v for k, v in settings.items() if v is not None}
        defaults: dict[str, Any] = {}
        if model.startswith("local:"):
            defaults = dict(LOCAL_DEFAULTS)
            if training:
                defaults["temperature"] = LOCAL_TRAIN_TEMPERATURE
        return cls(model=model, **{**defaults, **given})

    def schedule(self) -> EpsilonSchedule:
        """The epsilon schedule."""
        return EpsilonSchedule(self.epsilon, self.epsilon_end)

    def with_(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (unknown names are refused)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise BadInputError(f"run config: no setting '{sorted(unknown)[0]}'")
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The settings as logged with the run."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunConfig:
        """The config a run logged (runs logged before `RunConfig` used other keys)."""
        data = dict(data)
        if "epsilon_start" in data:  # before RunConfig: "epsilon" was a description
            data["epsilon"] = data.pop("epsilon_start")
        if "suite_source" in data:
            data["suite"] = data.pop("suite_source")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
