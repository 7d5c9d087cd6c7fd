"""The one write that learns, on Postgres: an episode appended with its steps and credited,
in the caller's transaction (all or nothing), at most once.

An episode is keyed by (run_id, episode_index): a write retried after a lost connection or a
timeout (did the first one commit?) inserts nothing and credits nothing the second time
(`ON CONFLICT DO NOTHING`, and the credits are applied only when the insert happened).
"""

from __future__ import annotations

import logging
from typing import Any

from ...records import Episode, Step
from ..credit import credits
from ..sqlite.codecs import EPISODES, STEPS
from .aggregates import apply_credit
from .session import Session, now

__all__ = ["append_episode"]

LOG = logging.getLogger(__name__)


def append_episode(db: Session, episode: Episode, *, update: bool) -> bool:
    """Append the episode and its steps and, if `update`, apply its credits, inside the
    caller's write transaction. Returns False (and writes nothing) if the log already holds
    this episode of this run."""
    at = now()
    record = EPISODES.to_row(
        episode,
        reward=episode.reward,
        n_steps=len(episode.steps),
        updated_memory=update,
        created_at=at,
    )
    episode_id = db.insert_new("episodes", record)
    if episode_id is None:
        LOG.info("episode %s of run %s: already logged", episode.index, episode.run_id)
        return False
    step_ids = {
        step.index: db.insert("steps", _step_row(step, episode_id, episode))
        for step in episode.steps
    }
    for credit in credits(episode) if update else ():
        apply_credit(db, credit, step_ids[credit.step_index], at)
    return True


def _step_row(step: Step, episode_id: int, episode: Episode) -> dict[str, Any]:
    """A step's row: its episode's id, and the prompt it is credited to spelt out."""
    return STEPS.to_row(
        step, episode_id=episode_id, credited_to=step.credit_key, explored=episode.explored
    )
