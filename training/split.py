"""The fixed held-out split: decided by each story's id, never by position or seed.

A story is held out when the SHA-256 of ``SALT + id`` falls in the lowest
``HELD_OUT_FRACTION`` of the hash range. Adding stories never moves an existing
story between the two sides, so every corpus round is measured on the stories
it was measured on before, plus its new ones; and no seed can move it. The tag
thresholds are chosen on out-of-fold probabilities of the fit side
(``training/train.py``), so no share of it is set aside for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from wirestream.training.corpus import LabelledStory

SALT = "wirestream-heldout-v1:"
HELD_OUT_FRACTION = 0.2
DEFAULT_SEED = 20261125  # the model's random_state; it never touches the split


def share(story_id: str, salt: str = SALT) -> float:
    """Where ``story_id`` falls in [0, 1): a stable, uniform function of the id alone."""
    digest = hashlib.sha256((salt + story_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_held_out(story_id: str) -> bool:
    return share(story_id) < HELD_OUT_FRACTION


def held_out_split(stories: Sequence[LabelledStory]) -> tuple[list[int], list[int]]:
    """Indices (fit, held_out) into ``stories``."""
    fit = [i for i, s in enumerate(stories) if not is_held_out(s.id)]
    held = [i for i, s in enumerate(stories) if is_held_out(s.id)]
    return fit, held
