"""A whole console installation on this machine, for the screenshot tool and the benchmark.

Real parts throughout: the embedded broker, a model trained on the shipped
corpus and signed with a key made for the run, a ``wirestream worker`` and a
``wirestream console``, each its own process, in a scratch directory.
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wirestream.console.process import ConsoleProcess
from wirestream.console.users import entry
from wirestream.models import signing
from wirestream.settings import DEFAULT_CORPUS, DEFAULT_WIRE_HELDOUT, Settings
from wirestream.streams.admin import ensure_topics
from wirestream.streams.broker import EmbeddedBroker, free_port
from wirestream.streams.worker_process import WorkerProcess
from wirestream.training.corpus import LabelledStory, load_corpus
from wirestream.training.train import train

PASSWORD = "correct horse battery"  # the scratch users' password (scratch runs only)


@dataclass
class Stack:
    settings: Settings
    root: Path
    users: dict[str, str]  # name -> role
    processes: list[WorkerProcess | ConsoleProcess] = field(default_factory=list)
    console: ConsoleProcess | None = None

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.settings, log_path=self.root / "worker.log")
        self.processes.append(worker)
        if not worker.wait_ready(120):
            raise RuntimeError(f"worker not ready:\n{worker.output[-3000:]}")
        return worker

    def start_console(self) -> ConsoleProcess:
        console = ConsoleProcess(self.settings, log_path=self.root / "console.log")
        self.processes.append(console)
        if not console.wait_ready(60):
            raise RuntimeError(f"console not ready:\n{console.output[-3000:]}")
        self.console = console
        return console

    @property
    def url(self) -> str:
        return f"http://{self.settings.console_host}:{self.settings.console_port}"

    def client(self, user: str) -> httpx.Client:
        """An HTTP client signed in as ``user`` (cookies and CSRF token kept)."""
        client = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        reply = client.post(
            "/login",
            data={"username": user, "password": PASSWORD, "csrf_token": token, "next": "/queue"},
        )
        if reply.status_code != 303:
            raise RuntimeError(f"sign-in as {user} failed: {reply.status_code}")
        queue = client.get("/queue").text
        client.headers["X-CSRF-Token"] = queue.split('name="csrf-token" content="', 1)[1].split(
            '"', 1
        )[0]
        return client

    def wait_waiting(self, at_least: int, timeout: float = 120) -> int:
        """Until the console counts ``at_least`` stories waiting (it consumes asynchronously)."""
        client = self.client(next(iter(self.users)))
        deadline = time.monotonic() + timeout
        waiting = 0
        while time.monotonic() < deadline:
            waiting = client.get("/api/queue", params={"limit": 1}).json()["waiting"]
            if waiting >= at_least:
                return waiting
            time.sleep(0.3)
        raise RuntimeError(f"only {waiting} stories waiting after {timeout:.0f}s")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(signal.SIGTERM, 20)
        self.processes.clear()


def story_lines(stories: Sequence[LabelledStory], prefix: str, copies: int = 1) -> list[bytes]:
    """Corpus stories as input messages with fresh ids (``copies`` of each when asked)."""
    out = []
    for n in range(copies):
        for s in stories:
            sid = f"{prefix}-{s.id}" if copies == 1 else f"{prefix}-{n}-{s.id}"
            out.append(
                json.dumps(
                    {"id": sid, "headline": s.headline, "body": s.body, "source": "corpus"},
                    ensure_ascii=False,
                ).encode()
            )
    return out


def signed_model(root: Path) -> tuple[Path, Path]:
    """Train on the shipped corpus, sign with a fresh key; return (model dir, public key)."""
    private, public, _ = signing.generate(root / "keys" / "signing")
    model = root / "model"
    train(
        [DEFAULT_CORPUS],
        model,
        signing_key=signing.load_private(private),
        wire_heldout=[DEFAULT_WIRE_HELDOUT],
        progress=lambda _msg: None,
    )
    return model, public


@contextlib.contextmanager
def running_stack(
    users: dict[str, str], review_threshold: float = 0.5, **overrides: object
) -> Iterator[Stack]:
    """Broker + signed model + settings in a scratch directory; processes are started by the caller."""
    with (
        tempfile.TemporaryDirectory(prefix="wirestream-console-") as tmp,
        EmbeddedBroker() as broker,
    ):
        root = Path(tmp)
        model, public = signed_model(root)
        entries = "\n".join(entry(name, role, PASSWORD) for name, role in users.items())
        settings = Settings.from_env(env={}).replace(
            broker=f"kafka://{broker.bootstrap}",
            app_id=f"console-run-{uuid.uuid4().hex[:6]}",
            model_dir=model,
            model_public_keys=str(public),
            data_dir=root / "data",
            metrics_port=free_port(),
            labeller_metrics_port=free_port(),
            console_port=free_port(),
            console_users=entries,
            console_secret_key=uuid.uuid4().hex + uuid.uuid4().hex,
            console_secure_cookies=False,  # plain http on 127.0.0.1
            create_topics=True,
            review_threshold=review_threshold,
            **overrides,
        )
        ensure_topics(settings)
        stack = Stack(settings, root, users)
        try:
            yield stack
        finally:
            stack.stop()


def corpus() -> list[LabelledStory]:
    return load_corpus([DEFAULT_CORPUS])
