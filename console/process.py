"""``wirestream console`` as a child process, for the tests, the benchmark and the screenshot tool."""

from __future__ import annotations

from pathlib import Path

from wirestream.console.server import READY_LINE
from wirestream.settings import Settings
from wirestream.streams.worker_process import ServiceProcess


class ConsoleProcess(ServiceProcess):
    def __init__(
        self,
        settings: Settings,
        echo_prefix: str | None = None,
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.settings = settings
        super().__init__(["console"], settings, READY_LINE, echo_prefix, extra_env, log_path)

    @property
    def url(self) -> str:
        return f"http://{self.settings.console_host}:{self.settings.console_port}"
