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
