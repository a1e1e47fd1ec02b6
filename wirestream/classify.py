"""The batch classification function: offline CLI and stream agents both call this.

Pure: model and stories in, one enriched dict per story out, in input order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wirestream.language import detect_language
from wirestream.models.persistence import LoadedModel
from wirestream.story import Story
from wirestream.taxonomy import focus, topic_code


def classify_batch(
    loaded: LoadedModel, stories: Sequence[Story], *, explain: bool = False
) -> list[dict[str, Any]]:
    if not stories:
        return []
    texts = [s.text for s in stories]
    heads = loaded.model.predict_heads(texts)
    explanations = loaded.model.explain(texts) if explain else None
    results: list[dict[str, Any]] = []
    for i, story in enumerate(stories):
        hum_score = _true_score(heads["humanitarian"].proba[i], loaded.model.classes_[2])
        mil_score = _true_score(heads["military"].proba[i], loaded.model.classes_[3])
        humanitarian = bool(heads["humanitarian"].labels[i])  # the model's own thresholds
        military = bool(heads["military"].labels[i])
        topic = str(heads["topic"].labels[i])
        record: dict[str, Any] = {
            "id": story.id,
            "topic": topic,
            "topic_code": topic_code(topic),
            "topic_score": round(float(heads["topic"].scores[i]), 4),
            "stance": str(heads["stance"].labels[i]),
            "stance_score": round(float(heads["stance"].scores[i]), 4),
            "humanitarian": humanitarian,
            "humanitarian_score": round(hum_score, 4),
            "military": military,
            "military_score": round(mil_score, 4),
            "focus": focus(humanitarian, military),
            "language": story.language or detect_language(story.text),
            "language_detected": story.language is None,
            "model_version": loaded.version,
        }
        if explanations is not None:
            record["explanation"] = explanations[i]
        results.append(record)
    return results


def _true_score(proba_row: Any, classes: Any) -> float:
    return float(proba_row[list(classes).index(True)])
