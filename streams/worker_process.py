"""``wirestream worker`` as a child process: used by the demo, benchmarks, previews and tests.

Readiness is the worker's own log line, never a fixed sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from wirestream.settings import Settings
from wirestream.streams.processes import stop_process

READY_LINE = "wirestream worker ready"


class WorkerProcess:
    def __init__(
        self,
        settings: Settings,
        echo_prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
        env |= settings.to_env() | {"PYTHONUNBUFFERED": "1"} | (extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wirestream.cli", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.echo_prefix = echo_prefix
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if READY_LINE in line:
                self.ready.set()
            if self.echo_prefix is not None:
                sys.stdout.write(f"{self.echo_prefix}{line}")
                sys.stdout.flush()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 90) -> bool:
        """True once the worker logged its ready line; False if it exited or timed out."""
        waited = 0.0
        while waited < timeout:
            if self.ready.wait(0.5):
                return True
            if self.proc.poll() is not None:
                return self.ready.is_set()
            waited += 0.5
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        code = stop_process(self.proc, sig, timeout)
        self._reader.join(5)
        return code
