"""``wirestream worker``: settings -> topics -> model -> metrics -> Faust worker."""

from __future__ import annotations

import logging
import sys
import time

from prometheus_client import CollectorRegistry

from wirestream.alerts import AlertRuleError, load_rules
from wirestream.models.persistence import LoadedModel, ModelLoadError, load_model
from wirestream.settings import Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.app import ModelHolder, create_app
from wirestream.streams.metrics import WorkerMetrics, serve

log = logging.getLogger("wirestream.worker")


def build_metrics(settings: Settings, rule_names: list[str]) -> WorkerMetrics:
    return WorkerMetrics(
        CollectorRegistry(),
        settings.output_topics,
        rule_names,
        alerts_topic=settings.topic_alerts,
        review_topic=settings.topic_review,
        deadletter_topic=settings.topic_deadletter,
    )


def _load_model_or_wait(settings: Settings, metrics: WorkerMetrics) -> LoadedModel | None:
    """Load and verify the model; with WIRESTREAM_MODEL_RETRY_S > 0, keep trying (metrics stay up)."""
    while True:
        try:
            return load_model(settings.model_dir)
        except ModelLoadError as exc:
            metrics.model_load_failures.inc()
            print(f"wirestream worker: {exc}", file=sys.stderr, flush=True)
            if settings.model_retry_s <= 0:
                return None
            log.warning("retrying the model load in %.1fs", settings.model_retry_s)
            time.sleep(settings.model_retry_s)


def run_worker(settings: Settings) -> int:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
    )
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        rules = load_rules(settings.alert_rules)
    except AlertRuleError as exc:
        print(f"wirestream worker: {exc}", file=sys.stderr)
        return 2
    metrics = build_metrics(settings, [r.name for r in rules])
    serve(metrics.registry, settings.metrics_port)
    loaded = _load_model_or_wait(settings, metrics)
    if loaded is None:
        return 2
    metrics.set_model(loaded.version, loaded.created_at)
    status = ensure_topics(settings)
    created = [t for t, s in status.items() if s == "created"]
    mismatched = {t: s for t, s in status.items() if s not in ("created", "exists")}
    if created:
        log.info("created topics: %s", ", ".join(created))
    if mismatched:
        for topic, state in mismatched.items():
            print(f"wirestream worker: topic {topic} {state}", file=sys.stderr)
        return 2
    log.info(
        "metrics on :%d/metrics; model %s from %s",
        settings.metrics_port,
        loaded.version,
        settings.model_dir,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, ModelHolder(loaded), rules, metrics)

    from faust import Worker

    worker = Worker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()  # runs until SIGINT/SIGTERM, then exits the process
    return 0
