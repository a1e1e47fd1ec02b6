"""One typed settings object, read from ``WIRESTREAM_*`` environment variables.

Every tunable lives here so modules never grow their own constants. Each field
carries its check (a range or a set of choices), so a bad value fails at
start-up with one line naming the variable, never deep inside a library. The
README lists every variable; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
# A source checkout keeps its state in the tree (var/); an installed wheel has
# no tree, so state goes under the working directory unless WIRESTREAM_DATA_DIR
# says where (the image sets /var/lib/wirestream). The shipped files (alert
# rules, label schema, corpus) are package data, found the same way in both.
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "training").is_dir()
DEFAULT_DATA_DIR = REPO_ROOT / "var" if IN_CHECKOUT else Path("var")
TRAINING_DIR = Path(str(resources.files("wirestream.training")))
DEFAULT_CORPUS = TRAINING_DIR / "data" / "corpus"
DEFAULT_WIRE_HELDOUT = TRAINING_DIR / "data" / "heldout-wire"
DEFAULT_ALERT_RULES = PACKAGE_DIR / "data" / "alert-rules.yaml"

# Variables Kubernetes injects for a Service named wirestream-*: not ours, ignored.
SERVICE_LINK = re.compile(
    r"^WIRESTREAM_\w+_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT_\d+_(TCP|UDP|SCTP)(_\w+)?)$"
)
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class SettingsError(ValueError):
    """A WIRESTREAM_* variable holds a value that cannot be used; the message says which."""


def _range(lo: float | None = None, hi: float | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if lo is not None and value < lo:
            return f"must be at least {lo}"
        if hi is not None and value > hi:
            return f"must be at most {hi}"
        return None

    return check


def _choice(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}"

    return check


def _topic_name(value: Any) -> str | None:
    if not value or len(value) > 249:
        return "must be a Kafka topic name of 1-249 characters"
    if any(not (c.isalnum() or c in "._-") for c in value):
        return "may only contain letters, digits, '.', '_' and '-'"
    return None


def _opt(
    check: Callable[[Any], str | None] | None = None,
    *,
    secret: bool = False,
    normalise: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    return {"check": check, "secret": secret, "normalise": normalise}


def _setting(default: Any, **meta: Any) -> Any:
    return field(default=default, metadata=_opt(**meta))


@dataclass(frozen=True)
class Settings:
    # -- Kafka connection -------------------------------------------------------------
    broker: str = "kafka://127.0.0.1:9092"
    broker_security_protocol: str = _setting(
        "PLAINTEXT", check=_choice(SECURITY_PROTOCOLS), normalise=str.upper
    )
    broker_sasl_mechanism: str = _setting(
        "PLAIN", check=_choice(SASL_MECHANISMS), normalise=str.upper
    )
    broker_sasl_username: str = ""
    broker_sasl_password: str = _setting("", secret=True)
    broker_ssl_cafile: str = ""
    broker_session_timeout_s: float = _setting(10.0, check=_range(1, 300))
    broker_request_timeout_s: float = _setting(30.0, check=_range(1, 600))
    fetch_max_wait_ms: int = _setting(10, check=_range(0, 30000))
    # -- Topics ------------------------------------------------------------------------
    create_topics: bool = False
    partitions: int = _setting(4, check=_range(1, 10000))
    replication_factor: int = _setting(1, check=_range(1, 32))
    topic_input: str = _setting("wire.stories", check=_topic_name)
    topic_classified: str = _setting("wire.classified", check=_topic_name)
    topic_humanitarian: str = _setting("wire.humanitarian", check=_topic_name)
    topic_military: str = _setting("wire.military", check=_topic_name)
    topic_alerts: str = _setting("wire.alerts", check=_topic_name)
    topic_review: str = _setting("wire.review", check=_topic_name)
    topic_deadletter: str = _setting("wire.deadletter", check=_topic_name)
    topic_labels: str = _setting("wire.labels", check=_topic_name)
    topic_models: str = _setting("wire.models", check=_topic_name)
    # -- Worker ------------------------------------------------------------------------
    app_id: str = _setting("wirestream", check=_topic_name)
    batch_size: int = _setting(256, check=_range(1, 10000))
    commit_interval_s: float = _setting(2.8, check=_range(0.1, 600))
    send_max_attempts: int = _setting(6, check=_range(1, 100))
    send_backoff_s: float = _setting(0.5, check=_range(0.01, 60))
    review_threshold: float = _setting(0.5, check=_range(0, 1))
    alert_rules: Path = DEFAULT_ALERT_RULES
    data_dir: Path = DEFAULT_DATA_DIR
    metrics_host: str = "127.0.0.1"
    metrics_port: int = _setting(9308, check=_range(1, 65535))
    log_level: str = _setting("info", check=_choice(LOG_LEVELS), normalise=str.lower)
    debug: bool = False
    # -- Input limits (anything larger is dead-lettered) ---------------------------------
    max_message_bytes: int = _setting(262144, check=_range(1024, 8 * 1024 * 1024))
    max_body_bytes: int = _setting(65536, check=_range(256, 4 * 1024 * 1024))
    max_headline_bytes: int = _setting(1024, check=_range(16, 65536))
    max_id_bytes: int = _setting(256, check=_range(8, 4096))
    max_field_bytes: int = _setting(2048, check=_range(16, 65536))
    max_extra_bytes: int = _setting(4096, check=_range(0, 262144))
    max_json_depth: int = _setting(16, check=_range(2, 256))
    deadletter_max_payload_bytes: int = _setting(65536, check=_range(256, 524288))
    # -- Models ------------------------------------------------------------------------
    model_dir: Path | None = None
    registry_dir: Path | None = None
    model_retry_s: float = _setting(0.0, check=_range(0, 3600))
    model_poll_s: float = _setting(30.0, check=_range(0, 86400))
    model_public_keys: str = ""
    model_signing_key: Path | None = None
    allow_unsigned_models: bool = False
    retrain_tolerance: float = _setting(0.02, check=_range(0, 1))
    retrain_label_holdout: float = _setting(0.2, check=_range(0.05, 0.9))
    # -- Labels (wirestream labeller) ----------------------------------------------------
    label_store: Path | None = None
    story_retention_h: float = _setting(168.0, check=_range(0.1, 24 * 3650))
    labeller_metrics_port: int = _setting(9310, check=_range(1, 65535))
    # -- Notifier ----------------------------------------------------------------------
    webhook_url: str = _setting("", secret=True)
    notify_max_attempts: int = _setting(8, check=_range(1, 100))
    notify_backoff_s: float = _setting(0.5, check=_range(0.01, 60))
    notify_timeout_s: float = _setting(10.0, check=_range(0.5, 120))
    notify_budget_s: float = _setting(120.0, check=_range(1, 3600))
    console_url: str = ""
    # -- Review console ------------------------------------------------------------------
    console_host: str = "127.0.0.1"
    console_port: int = _setting(8080, check=_range(1, 65535))
    console_users: str = _setting("", secret=True)
    console_users_file: Path | None = None
    console_secret_key: str = _setting("", secret=True)
    console_secure_cookies: bool = True
    console_feed_size: int = _setting(2000, check=_range(10, 1_000_000))
    console_undo_s: float = _setting(8.0, check=_range(0, 300))
    console_claim_s: float = _setting(300.0, check=_range(10, 86400))
    console_session_h: float = _setting(12.0, check=_range(0.1, 720))
    console_story_keep: int = _setting(100_000, check=_range(1000, 100_000_000))

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            problem = check(value) if check and value is not None else None
            if problem:
                raise SettingsError(f"{env_name(f.name)}={_shown(f, value)!r}: {problem}")

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={_shown(f, getattr(self, f.name))!r}" for f in fields(self))
        return f"Settings({shown})"

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``WIRESTREAM_<FIELD>`` variables (upper-case field names)."""
        env = dict(os.environ if env is None else env)
        known = {env_name(f.name) for f in fields(cls)}
        unknown = sorted(
            k
            for k in env
            if k.startswith("WIRESTREAM_") and k not in known and not SERVICE_LINK.match(k)
        )
        if unknown:
            raise SettingsError(
                f"{unknown[0]} is not a wirestream setting (the README lists them all)"
            )
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = env_name(f.name)
            if key in env:
                raw = env[key]
                if raw.startswith("tcp://") and key.endswith("_PORT"):
                    raise SettingsError(
                        f"{key}={raw!r} looks like a Kubernetes service link (a Service named "
                        f"{key[:-5].lower().replace('_', '-')}); set enableServiceLinks: false in the pod spec"
                    )
                normalise = f.metadata.get("normalise")
                if normalise:
                    raw = normalise(raw.strip())
                values[f.name] = _coerce(key, raw, hints[f.name], f)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The ``WIRESTREAM_*`` variables that reproduce these settings in a child process."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[env_name(f.name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    # -- derived values ------------------------------------------------------------------
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
        return (self.topic_input, *self.output_topics, self.topic_labels, self.topic_models)

    @property
    def registry(self) -> Path:
        return self.registry_dir or self.data_dir / "registry"

    @property
    def label_store_path(self) -> Path:
        return self.label_store or self.data_dir / "labels.sqlite3"

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


def env_name(field_name: str) -> str:
    return f"WIRESTREAM_{field_name.upper()}"


def _shown(f: dataclasses.Field[Any], value: Any) -> Any:
    if f.metadata.get("secret") and value:
        return "***"
    return value


def _coerce(key: str, raw: str, typ: Any, f: dataclasses.Field[Any]) -> Any:
    optional = typ == Path | None
    try:
        if optional:
            return Path(raw) if raw.strip() else None
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
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if typ is Path:
            return Path(raw)
        return raw
    except ValueError:
        name = {bool: "boolean (true/false)", int: "integer", float: "number"}.get(typ, "value")
        shown = "***" if f.metadata.get("secret") else raw
        raise SettingsError(f"{key}={shown!r} is not a valid {name}") from None


# What each setting means: README's settings table is generated from this
# (python -m tools.settings_table) and a test keeps the two equal.
DOCS: dict[str, str] = {
    "broker": "comma-separated `host:port` list, with or without `kafka://`",
    "broker_security_protocol": "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (any case)",
    "broker_sasl_mechanism": "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`",
    "broker_sasl_username": "SASL user",
    "broker_sasl_password": "SASL password (secret: never printed)",
    "broker_ssl_cafile": "CA bundle for SSL (system CAs when empty)",
    "broker_session_timeout_s": "consumer group session timeout (the embedded broker answers a join after half of it)",
    "broker_request_timeout_s": "how long a produce or fetch request may take before it counts as failed",
    "fetch_max_wait_ms": "longest a fetch waits for data; the embedded broker always waits this long, so it sets the latency floor; Apache Kafka answers as soon as data arrives",
    "create_topics": "`true`: a process creates missing topics itself (the demo and tests); otherwise `wirestream topics create` is the deliberate step and a missing topic stops a process with that advice",
    "partitions": "partitions of every topic `topics create` makes (the control topic gets 1); workers scale up to this",
    "replication_factor": "replication of the topics `topics create` makes: use 3 on a real cluster",
    "topic_input": "input topic",
    "topic_classified": "every classified story",
    "topic_humanitarian": "classified stories tagged humanitarian",
    "topic_military": "classified stories tagged military",
    "topic_alerts": "stories that matched an alert rule",
    "topic_review": "stories sent to editors (low confidence)",
    "topic_deadletter": "everything refused, with the reason and the original bytes",
    "topic_labels": "editors' labels (the label contract)",
    "topic_models": "model promotions announced to running workers",
    "app_id": "Faust app id = the workers' consumer group; other processes use `<app_id>-notify`, `-labeller`, `-console`",
    "batch_size": "most stories per model call; a batch is whatever is waiting, up to this",
    "commit_interval_s": "how often a worker commits the offsets of delivered batches",
    "send_max_attempts": "attempts to deliver a batch's outputs before the worker exits (code 3) without acknowledging it",
    "send_backoff_s": "first retry delay of a failed send; doubles each attempt, at most 30 s",
    "review_threshold": "topic or stance probability below this sends a story to review",
    "alert_rules": "alert rules file (YAML; the shipped one is package data)",
    "data_dir": "state: Faust's data, the registry, the label store, the console's database (`var/` in a checkout, `./var` elsewhere; the image sets `/var/lib/wirestream`)",
    "metrics_host": "address `/metrics`, `/healthz` and `/ready` listen on (`0.0.0.0` in containers)",
    "metrics_port": "a worker's metrics port (one per process)",
    "log_level": "`debug`, `info`, `warning`, `error` or `critical`; libraries log only at `debug`",
    "debug": "`true`: commands show tracebacks instead of one-line errors",
    "max_message_bytes": "larger input messages are dead-lettered (`message_too_large`) before they are decoded",
    "max_body_bytes": "larger bodies are dead-lettered (`body_too_large`), counted in UTF-8 bytes",
    "max_headline_bytes": "bound on the headline (`field_too_large`)",
    "max_id_bytes": "bound on the story id (`field_too_large`)",
    "max_field_bytes": "bound on `language`, `source`, `published_at`, `url` (`field_too_large`)",
    "max_extra_bytes": "bound on the unknown input fields kept under `input_extra` (`field_too_large`)",
    "max_json_depth": "deeper JSON nesting is dead-lettered (`too_deep`)",
    "deadletter_max_payload_bytes": "a dead-letter record keeps at most this much of the original payload (with its full size and SHA-256)",
    "model_dir": "serve this model directory instead of the registry's current model",
    "registry_dir": "the model registry (default `<data_dir>/registry`; a shared volume in production)",
    "model_retry_s": "`0`: a worker without a valid model exits (code 2); `> 0`: it serves metrics, counts each failure and retries this often",
    "model_poll_s": "how often a worker re-reads the registry's pointer, in case it missed an announcement (`0`: never)",
    "model_public_keys": "public keys a model's signature may verify against: comma-separated files, directories of `*.pub`/`*.pem` (a mounted Secret) or inline PEM",
    "model_signing_key": "private key that `train` and `retrain` sign models with (mode 600 or 640)",
    "allow_unsigned_models": "`true` accepts unsigned skops models (local development only; never pickles)",
    "retrain_tolerance": "`retrain` promotes only if no head's macro-F1 drops by more than this on either held-out part",
    "retrain_label_holdout": "share of newsroom labels (fixed by story id) that retraining never fits on",
    "label_store": "the SQLite label store (default `<data_dir>/labels.sqlite3`)",
    "story_retention_h": "hours the labeller keeps classified stories to complete labels that carry no text",
    "labeller_metrics_port": "the labeller's metrics port",
    "webhook_url": "Slack-compatible incoming webhook for `wirestream notify` (secret)",
    "notify_max_attempts": "attempts per alert before the notifier exits (code 3) without committing",
    "notify_backoff_s": "first webhook retry delay; doubles each attempt, at most 60 s",
    "notify_timeout_s": "one webhook request's timeout",
    "notify_budget_s": "longest time spent retrying one alert",
    "console_url": "the console's public URL: alert messages link each story's page",
    "console_host": "address the console listens on",
    "console_port": "the console's port",
    "console_users": "console users, one `name:role:argon2-hash` per line (secret; `wirestream console hash-password` makes one)",
    "console_users_file": "file with the same lines (a mounted Secret)",
    "console_secret_key": "key that encrypts the console's session cookies, 32+ characters (secret)",
    "console_secure_cookies": "`false` only to use the console over plain http on a host other than 127.0.0.1",
    "console_feed_size": "classified records a live feed page starts with",
    "console_undo_s": "seconds a decision can be undone before its label is published",
    "console_claim_s": "how long opening a story reserves it for an editor",
    "console_session_h": "hours a console sign-in lasts",
    "console_story_keep": "classified and alert records the console keeps for story pages and the feed (the queue is never pruned)",
}
