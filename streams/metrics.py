"""Prometheus metrics of a worker, named by Prometheus conventions.

Prefix ``wirestream_``, base units (seconds), ``_total`` on counters. Every
labelled counter is pre-initialised to 0 for its known label values, so rates
and ratios exist from the first scrape instead of appearing with the first event.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from wirestream.models.persistence import MODEL_LOAD_REASONS
from wirestream.pipeline import BatchResult
from wirestream.story import REASONS
from wirestream.taxonomy import FOCUS_VALUES, STANCES, TOPICS

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
E2E_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class WorkerMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        output_topics: Iterable[str],
        alert_rules: Iterable[str],
        *,
        alerts_topic: str,
        review_topic: str,
        deadletter_topic: str,
    ) -> None:
        self.registry = registry
        self.alerts_topic = alerts_topic
        self.review_topic = review_topic
        self.deadletter_topic = deadletter_topic
        r = registry
        self.consumed = Counter(
            "wirestream_stories_consumed", "Input messages consumed", registry=r
        )
        self.classified = Counter("wirestream_stories_classified", "Stories classified", registry=r)
        self.deadlettered = Counter(
            "wirestream_stories_deadlettered",
            "Input messages sent to the dead-letter topic",
            ["reason"],
            registry=r,
        )
        self.routed = Counter(
            "wirestream_stories_routed", "Messages produced per output topic", ["topic"], registry=r
        )
        self.alerted = Counter(
            "wirestream_alerts", "Alerts raised per matching rule", ["rule"], registry=r
        )
        self.review = Counter(
            "wirestream_stories_review", "Stories sent to editors for review", registry=r
        )
        self.classifications = Counter(
            "wirestream_classifications",
            "Classified stories by topic, stance and focus",
            ["topic", "stance", "focus"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "wirestream_batch_classification_seconds",
            "Model time per classified batch",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "wirestream_batch_size_stories",
            "Stories per classified batch",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=r,
        )
        self.end_to_end = Histogram(
            "wirestream_end_to_end_seconds",
            "From a story's produced time to its classification",
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.confidence = Histogram(
            "wirestream_model_confidence",
            "Probability of the chosen label, per head",
            ["head"],
            buckets=CONFIDENCE_BUCKETS,
            registry=r,
        )
        self.model_info = Info("wirestream_model", "The model this worker serves", registry=r)
        self.model_load_failures = Counter(
            "wirestream_model_load_failures",
            "Models refused or failed to load, by reason",
            ["reason"],
            registry=r,
        )
        self.model_reloads = Counter(
            "wirestream_model_reloads",
            "Models swapped in by a running worker",
            registry=r,
        )
        self.send_retries = Counter(
            "wirestream_send_retries",
            "Output records whose send failed and was retried",
            registry=r,
        )
        self.send_failures = Counter(
            "wirestream_send_failures",
            "Batches whose outputs could not be delivered (the worker then stops)",
            registry=r,
        )
        self.lag = Gauge(
            "wirestream_consumer_lag_messages",
            "Input messages behind the partition high watermark",
            ["topic", "partition"],
            registry=r,
        )
        self.last_classified = Gauge(
            "wirestream_last_classified_timestamp_seconds",
            "Unix time of the last classified story",
            registry=r,
        )
        for reason in REASONS:
            self.deadlettered.labels(reason=reason)
        for reason in MODEL_LOAD_REASONS:
            self.model_load_failures.labels(reason=reason)
        for topic in output_topics:
            self.routed.labels(topic=topic)
        for rule in alert_rules:
            self.alerted.labels(rule=rule)
        for head in ("topic", "stance", "humanitarian", "military"):
            self.confidence.labels(head=head)
        for topic in TOPICS:
            for stance in STANCES:
                for focus in FOCUS_VALUES:
                    self.classifications.labels(topic=topic, stance=stance, focus=focus)

    def set_model(self, version: str, created_at: str) -> None:
        self.model_info.info({"version": version, "trained_at": created_at})

    def observe_batch(self, consumed: int, result: BatchResult) -> None:
        """Record one processed batch."""
        self.consumed.inc(consumed)
        if result.classified:
            self.batch_seconds.observe(result.classify_seconds)
            self.batch_size.observe(len(result.classified))
            self.classified.inc(len(result.classified))
            self.last_classified.set_to_current_time()
        for rec in result.classified:
            self.classifications.labels(
                topic=rec["topic"], stance=rec["stance"], focus=rec["focus"]
            ).inc()
            self.confidence.labels(head="topic").observe(rec["topic_score"])
            self.confidence.labels(head="stance").observe(rec["stance_score"])
            for tag in ("humanitarian", "military"):
                score = rec[f"{tag}_score"]
                self.confidence.labels(head=tag).observe(score if rec[tag] else 1.0 - score)
        for dead in result.deadletters:
            self.deadlettered.labels(reason=dead["reason"]).inc()
        for topic, payload in result.routed:
            self.routed.labels(topic=topic).inc()
            if topic == self.alerts_topic:
                for rule in payload["alert_rules"]:
                    self.alerted.labels(rule=rule).inc()
            elif topic == self.review_topic:
                self.review.inc()
        if result.deadletters:
            self.routed.labels(topic=self.deadletter_topic).inc(len(result.deadletters))
        for seconds in result.latencies:
            self.end_to_end.observe(seconds)
