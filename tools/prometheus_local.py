"""Run the Debian ``prometheus`` binary on the project's own config, for tests and previews.

The deploy/prometheus/ directory is copied as is; only the targets file (the
one place targets live) and, for speed, the scrape/evaluation interval change.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from wirestream.settings import REPO_ROOT
from wirestream.streams.broker import free_port
from wirestream.streams.processes import stop_process

CONFIG_DIR = REPO_ROOT / "deploy" / "prometheus"


class LocalPrometheus:
    def __init__(self, workdir: Path, targets: list[str], interval: str = "1s") -> None:
        self.dir = workdir / "prometheus"
        self.targets = targets
        self.interval = interval
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> LocalPrometheus:
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError(
                "the prometheus binary is not installed (apt-get install prometheus)"
            )
        shutil.copytree(CONFIG_DIR, self.dir, dirs_exist_ok=True)
        config = yaml.safe_load((self.dir / "prometheus.yml").read_text())
        config["global"]["scrape_interval"] = self.interval
        config["global"]["evaluation_interval"] = self.interval
        for job in config["scrape_configs"]:
            for sd in job.get("file_sd_configs", []):
                sd["refresh_interval"] = self.interval
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        (self.dir / "targets" / "wirestream.json").write_text(
            json.dumps([{"targets": self.targets, "labels": {"env": "test"}}])
        )
        self.log = (self.dir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited: {(self.dir / 'prometheus.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("prometheus did not become ready")

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus API error: {body}")
        return body["data"]

    def scalar(self, expr: str) -> float | None:
        """Value of an instant query that yields one series (None when empty)."""
        result = self.api("query", query=expr)["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc, timeout=20)
            self.log.close()
        self.proc = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
