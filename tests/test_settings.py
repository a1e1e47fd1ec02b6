import re

import pytest

from wirestream.settings import Settings, SettingsError


def test_env_overrides_and_types(tmp_path):
    s = Settings.from_env(
        env={
            "WIRESTREAM_PARTITIONS": "8",
            "WIRESTREAM_REVIEW_THRESHOLD": "0.7",
            "WIRESTREAM_MODEL_DIR": str(tmp_path),
            "WIRESTREAM_TOPIC_INPUT": "in",
        }
    )
    assert (s.partitions, s.review_threshold, s.model_dir, s.topic_input) == (
        8,
        0.7,
        tmp_path,
        "in",
    )
    assert Settings.from_env(env=s.to_env()) == s


def test_bad_values_name_the_variable():
    with pytest.raises(SettingsError, match="WIRESTREAM_PARTITIONS='four'"):
        Settings.from_env(env={"WIRESTREAM_PARTITIONS": "four"})


@pytest.mark.parametrize(
    ("raw", "servers"),
    [
        ("kafka://a:9092", ["a:9092"]),
        ("a:1,kafka://b:2", ["a:1", "b:2"]),
        (" a:1 , b:2 ", ["a:1", "b:2"]),
    ],
)
def test_broker_list_forms(raw, servers):
    s = Settings.from_env(env={"WIRESTREAM_BROKER": raw})
    assert s.bootstrap_servers == servers
    assert s.faust_broker == ";".join(f"kafka://{x}" for x in servers)


def test_sasl_options_for_kafka_python():
    s = Settings.from_env(
        env={
            "WIRESTREAM_BROKER_SECURITY_PROTOCOL": "SASL_SSL",
            "WIRESTREAM_BROKER_SASL_MECHANISM": "SCRAM-SHA-512",
            "WIRESTREAM_BROKER_SASL_USERNAME": "u",
            "WIRESTREAM_BROKER_SASL_PASSWORD": "p",
        }
    )
    opts = s.kafka_python_security()
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_username"] == "u"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"WIRESTREAM_REVIEW_THRESHOLD": "1.5"},
            "WIRESTREAM_REVIEW_THRESHOLD=1.5: must be at most 1",
        ),
        (
            {"WIRESTREAM_NOTIFY_MAX_ATTEMPTS": "0"},
            "WIRESTREAM_NOTIFY_MAX_ATTEMPTS=0: must be at least 1",
        ),
        (
            {"WIRESTREAM_METRICS_PORT": "99999"},
            "WIRESTREAM_METRICS_PORT=99999: must be at most 65535",
        ),
        ({"WIRESTREAM_PARTITIONS": "0"}, "WIRESTREAM_PARTITIONS=0: must be at least 1"),
        ({"WIRESTREAM_LOG_LEVEL": "loud"}, "WIRESTREAM_LOG_LEVEL='loud': must be one of debug"),
        ({"WIRESTREAM_BROKER_SECURITY_PROTOCOL": "tls"}, "must be one of PLAINTEXT, SSL"),
        ({"WIRESTREAM_SEND_BACKOFF_S": "nan"}, "is not a valid number"),
        ({"WIRESTREAM_CREATE_TOPICS": "maybe"}, "is not a valid boolean"),
        ({"WIRESTREAM_TOPIC_INPUT": "wire stories"}, "may only contain"),
        ({"WIRESTREAM_PARTITONS": "4"}, "WIRESTREAM_PARTITONS is not a wirestream setting"),
    ],
)
def test_every_value_is_range_checked_at_start_up_naming_the_variable(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env=env)


def test_secrets_never_appear_in_reprs_or_errors():
    s = Settings.from_env(
        env={
            "WIRESTREAM_BROKER_SASL_PASSWORD": "hunter2",
            "WIRESTREAM_WEBHOOK_URL": "https://hooks.example/T0/B0/secret-token",
            "WIRESTREAM_CONSOLE_SECRET_KEY": "k" * 44,
        }
    )
    for text in (repr(s), str(s), f"{s}"):
        assert "hunter2" not in text and "secret-token" not in text and "k" * 44 not in text
        assert "broker_sasl_password='***'" in text


def test_protocol_and_mechanism_names_are_case_insensitive_everywhere():
    s = Settings.from_env(
        env={
            "WIRESTREAM_BROKER_SECURITY_PROTOCOL": "sasl_ssl",
            "WIRESTREAM_BROKER_SASL_MECHANISM": "scram-sha-256",
        }
    )
    assert s.broker_security_protocol == "SASL_SSL"
    assert s.kafka_python_security()["security_protocol"] == "SASL_SSL"
    from wirestream.streams.aio import aiokafka_security
    from wirestream.streams.app import faust_credentials

    assert aiokafka_security(s)["security_protocol"] == "SASL_SSL"
    assert faust_credentials(s).mechanism.name == "SCRAM_SHA_256"


def test_kubernetes_service_links_are_ignored_or_explained():
    """A Service named wirestream-console makes Kubernetes inject WIRESTREAM_CONSOLE_* variables."""
    s = Settings.from_env(
        env={
            "WIRESTREAM_CONSOLE_SERVICE_HOST": "10.0.0.7",
            "WIRESTREAM_CONSOLE_PORT_8080_TCP_ADDR": "10.0.0.7",
        }
    )
    assert s.console_port == 8080
    with pytest.raises(SettingsError, match="enableServiceLinks: false"):
        Settings.from_env(env={"WIRESTREAM_CONSOLE_PORT": "tcp://10.0.0.7:8080"})


def test_every_setting_is_documented_and_readme_shows_the_generated_table():
    from dataclasses import fields as dataclass_fields

    from tools.settings_table import BEGIN, END, table
    from wirestream.settings import DOCS, REPO_ROOT

    assert set(DOCS) == {f.name for f in dataclass_fields(Settings)}
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == table(), "README's settings table is stale: python -m tools.settings_table"
