"""A ``wirestream`` command as a child process: used by the demo, benchmarks and tests.

Readiness is the child's own ready line (logged once partitions are assigned),
never a fixed sleep; the metrics port's ``/ready`` says the same to probes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from wirestream.settings import Settings
from wirestream.streams.processes import stop_process

READY_LINE = "wirestream worker ready"


class ServiceProcess:
    def __init__(
        self,
        command: list[str],
        settings: Settings,
        ready_line: str,
        echo_prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIRESTREAM_")}
        env |= settings.to_env() | {"PYTHONUNBUFFERED": "1"} | (extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wirestream.cli", *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.ready_line = ready_line
        self.echo_prefix = echo_prefix
        self.log: IO[str] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log = log_path.open("a", encoding="utf-8")
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.ready_line in line:
                self.ready.set()
            if self.log is not None:
                self.log.write(line)
                self.log.flush()
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
        """True once the child logged its ready line; False if it exited or timed out."""
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
        if self.log is not None:
            self.log.close()
        return code


class WorkerProcess(ServiceProcess):
    def __init__(
        self,
        settings: Settings,
        echo_prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(["worker"], settings, READY_LINE, echo_prefix, extra_env, log_path)
