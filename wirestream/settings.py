"""One typed settings object, read from ``WIRESTREAM_*`` environment variables.

Every tunable lives here so modules never grow their own constants; the README
lists each variable with its default.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "artifacts" / "default"
DEFAULT_CORPUS = REPO_ROOT / "training" / "data" / "corpus"
DEFAULT_ALERT_RULES = REPO_ROOT / "deploy" / "alert-rules.yaml"


class SettingsError(ValueError):
    """A WIRESTREAM_* variable holds a value of the wrong kind."""


@dataclass(frozen=True)
class Settings:
    # Kafka connection
    broker: str = "kafka://127.0.0.1:9092"
    broker_security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    broker_sasl_mechanism: str = "PLAIN"  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    broker_sasl_username: str = ""
    broker_sasl_password: str = ""
    broker_ssl_cafile: str = ""
    broker_session_timeout_s: float = 10.0
    # Topics
    partitions: int = 4
    replication_factor: int = 1
    topic_input: str = "wire.stories"
    topic_classified: str = "wire.classified"
    topic_humanitarian: str = "wire.humanitarian"
    topic_military: str = "wire.military"
    topic_alerts: str = "wire.alerts"
    topic_review: str = "wire.review"
    topic_deadletter: str = "wire.deadletter"
    # Worker
    app_id: str = "wirestream"
    batch_size: int = 256
    batch_within_s: float = 0.5
    max_body_bytes: int = 65536
    review_threshold: float = 0.5
    model_dir: Path = DEFAULT_MODEL_DIR
    model_retry_s: float = (
        0.0  # 0: exit when the model cannot be loaded; >0: retry, serving metrics
    )
    alert_rules: Path = DEFAULT_ALERT_RULES
    data_dir: Path = REPO_ROOT / "var" / "faust"
    metrics_port: int = 9308
    log_level: str = "info"
    # Notifier
    webhook_url: str = ""
    notify_max_attempts: int = 8
    notify_backoff_s: float = 0.5

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``WIRESTREAM_<FIELD>`` variables (upper-case field names)."""
        env = dict(os.environ if env is None else env)
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = f"WIRESTREAM_{f.name.upper()}"
            if key in env:
                values[f.name] = _coerce(key, env[key], hints[f.name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The ``WIRESTREAM_*`` variables that reproduce these settings in a child process."""
        return {f"WIRESTREAM_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` list, accepting ``kafka://`` prefixes and commas."""
        out = []
        for part in self.broker.split(","):
            part = part.strip()
            for prefix in ("kafka://", "tcp://"):
                if part.startswith(prefix):
                    part = part[len(prefix) :]
            if part:
                out.append(part)
        if not out:
            raise SettingsError("WIRESTREAM_BROKER names no host:port")
        return out

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{s}" for s in self.bootstrap_servers)

    @property
    def output_topics(self) -> tuple[str, ...]:
        return (
            self.topic_classified,
            self.topic_humanitarian,
            self.topic_military,
            self.topic_alerts,
            self.topic_review,
            self.topic_deadletter,
        )

    @property
    def all_topics(self) -> tuple[str, ...]:
        return (self.topic_input, *self.output_topics)

    def kafka_python_security(self) -> dict[str, Any]:
        """Security keyword arguments for kafka-python clients."""
        opts: dict[str, Any] = {"security_protocol": self.broker_security_protocol}
        if self.broker_security_protocol.startswith("SASL"):
            opts.update(
                sasl_mechanism=self.broker_sasl_mechanism,
                sasl_plain_username=self.broker_sasl_username,
                sasl_plain_password=self.broker_sasl_password,
            )
        if "SSL" in self.broker_security_protocol and self.broker_ssl_cafile:
            opts["ssl_cafile"] = self.broker_ssl_cafile
        return opts


def _coerce(key: str, raw: str, typ: Any) -> Any:
    try:
        if typ is bool:
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if typ is int:
            return int(raw)
        if typ is float:
            return float(raw)
        if typ is Path:
            return Path(raw)
        return raw
    except ValueError:
        name = getattr(typ, "__name__", str(typ))
        raise SettingsError(f"{key}={raw!r} is not a valid {name}") from None
