"""The fixed held-out split: seeded, stratified by language and topic, never fitted on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedShuffleSplit

from wirestream.training.corpus import LabelledStory

DEFAULT_SEED = 20261125
HELD_OUT_FRACTION = 0.2


def held_out_split(
    stories: Sequence[LabelledStory], seed: int = DEFAULT_SEED, test_size: float = HELD_OUT_FRACTION
) -> tuple[list[int], list[int]]:
    """Indices (train, held_out) into ``stories``, which must be sorted by id.

    Strata are ``language|topic``; a stratum too small to split falls back to
    ``language|*``, and a lone leftover joins the largest stratum.
    """
    strata = [f"{s.language}|{s.topic}" for s in stories]
    sizes = Counter(strata)
    strata = [k if sizes[k] >= 2 else k.split("|")[0] + "|*" for k in strata]
    sizes = Counter(strata)
    largest = sizes.most_common(1)[0][0]
    strata = [k if sizes[k] >= 2 else largest for k in strata]
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(np.zeros(len(stories)), strata))
    return sorted(train.tolist()), sorted(test.tolist())
