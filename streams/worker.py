"""``wirestream worker``: settings -> rules -> metrics -> model -> topics -> Faust worker."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry

from wirestream.alerts import load_rules
from wirestream.errors import UserError
from wirestream.models.persistence import LoadedModel, ModelLoadError
from wirestream.models.source import model_source
from wirestream.settings import Settings
from wirestream.streams.admin import check_topics
from wirestream.streams.app import create_app
from wirestream.streams.health import Health, serve
from wirestream.streams.logs import configure_logging
from wirestream.streams.metrics import WorkerMetrics
from wirestream.streams.model_holder import ModelHolder

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


def _load_model_or_wait(settings: Settings, metrics: WorkerMetrics) -> LoadedModel:
    """Load and verify the model; with WIRESTREAM_MODEL_RETRY_S > 0, keep trying (metrics stay up)."""
    source = model_source(settings)
    while True:
        try:
            return source.load()
        except ModelLoadError as exc:
            metrics.model_load_failures.labels(reason=exc.reason).inc()
            log.error("model refused (%s): %s", exc.reason, exc)
            if settings.model_retry_s <= 0:
                raise UserError(str(exc)) from None
            log.warning("retrying the model load in %.1fs", settings.model_retry_s)
            time.sleep(settings.model_retry_s)


def run_worker(settings: Settings) -> int:
    configure_logging(settings)
    rules = load_rules(settings.alert_rules)
    metrics = build_metrics(settings, [r.name for r in rules])
    health = Health()
    serve(metrics.registry, settings.metrics_host, settings.metrics_port, health)
    loaded = _load_model_or_wait(settings, metrics)
    metrics.set_model(loaded.version, loaded.created_at)
    health.model_loaded(loaded.version)
    check_topics(settings, settings.all_topics)
    log.info(
        "metrics on http://%s:%d/metrics (/healthz, /ready); model %s from %s",
        settings.metrics_host,
        settings.metrics_port,
        loaded.version,
        loaded.path,
    )
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    holder = ModelHolder(loaded, model_source(settings), metrics, health)
    app = create_app(settings, holder, rules, metrics, health)
    holder.attach(app, settings)

    from faust import Worker

    class QuietWorker(Worker):
        def _setup_logging(self) -> None:
            """Faust would install its own handlers at INFO; ours keep libraries at WARNING."""
            configure_logging(settings)

    worker = QuietWorker(app, loglevel=settings.log_level, quiet=True)
    worker.execute_from_commandline()  # runs until SIGINT/SIGTERM, then exits the process
    return 0
