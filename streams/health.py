"""Liveness and readiness of a worker, served beside ``/metrics`` on the metrics port.

``/healthz`` answers while the process runs; ``/ready`` only once the model is
loaded and the consumer group has assigned this worker its partitions (which
Kubernetes readiness probes and the tests wait for, instead of a log line).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from wirestream.errors import UserError


class Health:
    """What the probes report; updated by the worker, read by the HTTP thread."""

    def __init__(self) -> None:
        self.assigned = False
        self.partitions = 0
        self.model_version = ""
        self.batches = 0
        self.classified = 0
        self.started = time.time()
        self.last_batch_at: float | None = None

    def model_loaded(self, version: str) -> None:
        self.model_version = version

    def partitions_assigned(self, count: int) -> None:
        self.assigned = True
        self.partitions = count

    def batch_done(self, classified: int) -> None:
        self.batches += 1
        self.classified += classified
        self.last_batch_at = time.time()

    @property
    def ready(self) -> bool:
        return self.assigned and bool(self.model_version)

    def describe(self) -> str:
        return (
            f"ready={str(self.ready).lower()} model={self.model_version or '-'} "
            f"partitions={self.partitions} batches={self.batches} classified={self.classified}\n"
        )


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes and probes every few seconds are not log news."""


def serve(
    registry: CollectorRegistry, host: str, port: int, health: Health | None = None
) -> WSGIServer:
    """``/metrics``, ``/healthz`` and ``/ready`` on ``host:port``, in a daemon thread."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/ready") and health is not None:
            ok = path == "/healthz" or health.ready
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "text/plain; charset=utf-8")],
            )
            return [health.describe().encode()]
        return metrics_app(environ, start_response)

    try:
        server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise UserError(
            f"cannot listen on {host}:{port} for metrics: {exc.strerror or exc} "
            "(WIRESTREAM_METRICS_HOST / WIRESTREAM_METRICS_PORT; each process needs its own port)"
        ) from None
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
