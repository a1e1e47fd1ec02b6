"""The deployment files agree with the code: Dockerfile, deploy/compose, deploy/k8s.

Fast and offline (no containers, no kustomize): every ``WIRESTREAM_*`` name is a
real setting and every value one the settings accept; every ``wirestream``
command line parses; probes, ports and Prometheus targets match the ports the
processes listen on; the autoscaler never exceeds the partition count; the
monitoring copies under deploy/k8s equal deploy/prometheus and deploy/grafana.
``make deploy-check`` validates the same files against their schemas.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from wirestream.cli import build_parser
from wirestream.settings import Settings, env_name

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
COMPOSE_TARGETS = REPO / "deploy" / "compose" / "prometheus-targets" / "wirestream.json"
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
DOCS = REPO / "docs" / "deploy.md"

SETTINGS = {env_name(f.name) for f in fields(Settings)}
DEFAULTS = Settings()
NAME = re.compile(r"\bWIRESTREAM_[A-Z0-9_]*[A-Z0-9]\b")
# the port and probe paths each long-running process serves
SERVES = {
    "worker": ("WIRESTREAM_METRICS_PORT", "/ready", "/healthz"),
    "labeller": ("WIRESTREAM_LABELLER_METRICS_PORT", "/ready", "/healthz"),
    "console": ("WIRESTREAM_CONSOLE_PORT", "/healthz", "/healthz"),
}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in load_all(path) if "kind" in d and "$patch" not in d]
    return docs


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


def overlay_env(overlay: str) -> dict[str, str]:
    env = read_env(BASE / "config.env")
    if overlay == "production":
        env.update(read_env(PRODUCTION / "config.env"))
    return env


def pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return [spec["template"]["spec"]]
    return []


def containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for pod in pod_specs(doc):
        yield from pod.get("initContainers", [])
        yield from pod.get("containers", [])


def by_name(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert found, f"no {kind} {name} in deploy/k8s"
    return found[0]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} / ${VAR} with nothing set: the default (or empty); $$ is $."""
    value = re.sub(r"\$\{[A-Za-z0-9_]+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
    return value.replace("$$", "$")


def wirestream_service(svc: dict[str, Any]) -> bool:
    return "wirestream" in str(svc.get("image", ""))


# -- names and values -------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [DOCKERFILE, COMPOSE, DOCS, *sorted(K8S.rglob("*.yaml")), *sorted(K8S.rglob("*.env"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_every_wirestream_name_is_a_setting(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    used = set(NAME.findall(path.read_text(encoding="utf-8")))
    unknown = sorted(used - SETTINGS)
    assert not unknown, f"{path.relative_to(REPO)} uses {unknown}, which are not settings"


@pytest.mark.parametrize("overlay", ["base", "production"])
def test_k8s_config_values_are_valid_settings(overlay: str) -> None:
    settings = Settings.from_env(overlay_env(overlay))
    assert settings.metrics_host == "0.0.0.0"
    assert settings.console_host == "0.0.0.0"
    if overlay == "production":
        assert settings.broker_security_protocol == "SASL_SSL"
        assert settings.replication_factor == 3
        assert settings.broker_ssl_cafile.startswith("/etc/wirestream/kafka-ca/")
        assert "," in settings.broker and "kafka://" not in settings.broker


def test_compose_environments_are_valid_settings() -> None:
    for name, svc in compose()["services"].items():
        if wirestream_service(svc):
            env = {k: interpolate(str(v)) for k, v in (svc.get("environment") or {}).items()}
            Settings.from_env(env)  # raises on an unknown name or a bad value
            assert name


def test_image_defaults() -> None:
    text = DOCKERFILE.read_text()
    env = dict(re.findall(r"(WIRESTREAM_[A-Z_]+)=(\S+)", text))
    settings = Settings.from_env(env)
    assert settings.data_dir == Path("/var/lib/wirestream")  # an installed wheel has no ./var
    assert settings.metrics_host == "0.0.0.0" and settings.console_host == "0.0.0.0"
    assert re.search(r"^USER 10001:10001$", text, re.M), "the image runs as a non-root user"
    assert re.search(r'^ENTRYPOINT \["wirestream"\]$', text, re.M)
    assert "wirestream==${VERSION}" in text and "--no-index" in text, "installed as a wheel"
    exposed = {int(p) for p in re.search(r"^EXPOSE (.+)$", text, re.M).group(1).split()}
    assert exposed == {
        DEFAULTS.metrics_port,
        DEFAULTS.labeller_metrics_port,
        DEFAULTS.console_port,
    }
    check = re.search(r"^HEALTHCHECK .*?CMD (.+?)$", text, re.M | re.S).group(1)
    assert "/healthz" in check and f"'{DEFAULTS.metrics_port}'" in check
    assert "WIRESTREAM_METRICS_PORT" in check


# -- commands -------------------------------------------------------------------------
def wirestream_command_lines() -> list[tuple[str, list[str]]]:
    """Every `wirestream ...` argv in the Dockerfile, compose and k8s (args and shell scripts)."""
    found: list[tuple[str, list[str]]] = []
    cmd = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.M)
    found.append(("Dockerfile CMD", json.loads(cmd.group(1))))
    scripts: list[tuple[str, str]] = []
    for name, svc in compose()["services"].items():
        if not wirestream_service(svc):
            continue
        command = svc.get("command") or []
        if svc.get("entrypoint"):
            scripts += [(f"compose {name}", interpolate(part)) for part in command]
        elif command:
            found.append((f"compose {name}", command))
    for doc in k8s_docs():
        for c in containers(doc):
            if c.get("image") != "wirestream":
                continue
            where = f"k8s {doc['kind']}/{doc['metadata']['name']}/{c['name']}"
            if c.get("command") and c["command"][0] == "sh":
                scripts += [(where, part) for part in c.get("args", [])]
            elif not c.get("command"):
                found.append((where, c["args"]))
    for where, script in scripts:
        for match in re.finditer(r"(?<![\w/.-])wirestream ([^|;&>'\"\n]+)", script):
            found.append((where, shlex.split(match.group(1))))
    return found


@pytest.mark.parametrize(
    ("where", "argv"),
    wirestream_command_lines(),
    ids=lambda x: x if isinstance(x, str) else " ".join(x),
)
def test_commands_exist(where: str, argv: list[str]) -> None:
    args = build_parser().parse_args(argv)  # SystemExit(2) for an unknown command or option
    assert callable(args.func), f"{where}: `wirestream {' '.join(argv)}` runs nothing"


@pytest.mark.parametrize(
    "command", ["worker", "labeller", "notify", "console", "retrain", "topics"]
)
def test_every_process_the_manifests_run_is_a_command(command: str) -> None:
    used = {argv[0] for _, argv in wirestream_command_lines() if argv}
    assert command in used, f"nothing in deploy/ runs `wirestream {command}`"
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0


# -- ports and probes -------------------------------------------------------------------
@pytest.mark.parametrize("overlay", ["base", "production"])
@pytest.mark.parametrize("component", sorted(SERVES))
def test_k8s_probes_and_ports_match_the_settings(overlay: str, component: str) -> None:
    settings = Settings.from_env(overlay_env(overlay))
    port_setting, ready_path, live_path = SERVES[component]
    port = getattr(settings, port_setting.removeprefix("WIRESTREAM_").lower())
    deployment = by_name("Deployment", f"wirestream-{component}")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == component
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert len(ports) == 1, "one port per pod"
    assert list(ports.values()) == [port], f"{component} listens on {port} ({port_setting})"
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == (ready_path, live_path)
    assert ready["port"] in ports and live["port"] in ports


def test_k8s_named_ports_exist() -> None:
    names = {p["name"] for d in k8s_docs() for c in containers(d) for p in c.get("ports", [])}
    for policy in (d for d in k8s_docs() if d["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                assert isinstance(port["port"], int) or port["port"] in names
    service = by_name("Service", "wirestream-console")
    assert all(p["targetPort"] in names for p in service["spec"]["ports"])
    monitor = by_name("PodMonitor", "wirestream")
    (components,) = [e["values"] for e in monitor["spec"]["selector"]["matchExpressions"]]
    assert set(components) == {"worker", "labeller"}
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
        assert {"targetLabel": "job", "replacement": "wirestream", "action": "replace"} in endpoint[
            "relabelings"
        ], "the alert rules select job=wirestream"
    for component in components:
        (c,) = by_name("Deployment", f"wirestream-{component}")["spec"]["template"]["spec"][
            "containers"
        ]
        assert [p["name"] for p in c["ports"]] == ["metrics"]


def test_compose_ports_probes_and_targets() -> None:
    services = compose()["services"]
    for name in ("worker-1", "worker-2"):
        assert services[name]["command"] == ["worker"]
        assert services[name]["ports"][0].endswith(f":{DEFAULTS.metrics_port}")
        assert "healthcheck" not in services[name], "workers use the image's HEALTHCHECK"
    assert services["labeller"]["ports"] == [
        f"127.0.0.1:{DEFAULTS.labeller_metrics_port}:{DEFAULTS.labeller_metrics_port}"
    ]
    assert f":{DEFAULTS.labeller_metrics_port}/healthz" in str(services["labeller"]["healthcheck"])
    assert services["console"]["ports"][0].endswith(f":{DEFAULTS.console_port}")
    assert f":{DEFAULTS.console_port}/healthz" in str(services["console"]["healthcheck"])
    targets = {t for group in json.loads(COMPOSE_TARGETS.read_text()) for t in group["targets"]}
    assert targets == {
        f"worker-1:{DEFAULTS.metrics_port}",
        f"worker-2:{DEFAULTS.metrics_port}",
        f"labeller:{DEFAULTS.labeller_metrics_port}",
    }
    # the project's Prometheus config and rules, mounted as they are
    volumes = services["prometheus"]["volumes"]
    assert "../prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in volumes
    assert "../prometheus/rules:/etc/prometheus/rules:ro" in volumes
    assert "../grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]


# -- the shape of the k8s deployment ------------------------------------------------------
def test_every_pod_is_locked_down() -> None:
    for doc in k8s_docs():
        for pod in pod_specs(doc):
            where = f"{doc['kind']}/{doc['metadata']['name']}"
            # service links would inject WIRESTREAM_CONSOLE_PORT=tcp://... and the like
            assert pod.get("enableServiceLinks") is False, where
            assert pod.get("automountServiceAccountToken") is False, where
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            for c in containers(doc):
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, where
                assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
                assert "limits" in c["resources"] and "requests" in c["resources"], where
                mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
                if c["name"] != "signing-key":
                    assert "/tmp" in mounts, f"{where}: writable /tmp"


def test_worker_deployment() -> None:
    worker = by_name("Deployment", "wirestream-worker")
    pod = worker["spec"]["template"]["spec"]
    assert "replicas" not in worker["spec"], "KEDA owns the replica count"
    assert pod["terminationGracePeriodSeconds"] >= 30, "longer than a batch plus the commit"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["registry"].get("readOnly") is True
    env = overlay_env("base")
    assert mounts["registry"]["mountPath"] == env["WIRESTREAM_REGISTRY_DIR"]
    assert mounts["model-keys"]["mountPath"] == env["WIRESTREAM_MODEL_PUBLIC_KEYS"]
    pdb = by_name("PodDisruptionBudget", "wirestream-worker")
    assert pdb["spec"]["selector"] == worker["spec"]["selector"]


@pytest.mark.parametrize("overlay", ["base", "production"])
def test_autoscaler_stays_within_the_partitions(overlay: str) -> None:
    scaled = by_name("ScaledObject", "wirestream-worker")
    if overlay == "production":
        patch = [d for d in load_all(PRODUCTION / "scaling.yaml") if d["kind"] == "ScaledObject"]
        scaled = {**scaled, "spec": {**scaled["spec"], **patch[0]["spec"]}}
    env = overlay_env(overlay)
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "wirestream-worker"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["maxReplicaCount"] == int(env["WIRESTREAM_PARTITIONS"])
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka" and trigger["metadata"]["allowIdleConsumers"] == "false"
    for key in ("bootstrapServersFromEnv", "consumerGroupFromEnv", "topicFromEnv"):
        assert trigger["metadata"][key] in env, f"{key} names a variable the worker has"
    protocol = Settings.from_env(env).broker_security_protocol
    assert (trigger["metadata"]["tls"] == "enable") == ("SSL" in protocol)
    assert (trigger["metadata"]["sasl"] != "none") == protocol.startswith("SASL")
    if protocol.startswith("SASL"):
        mechanism = Settings.from_env(env).broker_sasl_mechanism
        assert trigger["metadata"]["sasl"] == mechanism.lower().replace("-", "_").replace(
            "sha_", "sha"
        )


def test_single_writers_and_the_label_store() -> None:
    for name in ("wirestream-labeller", "wirestream-console"):
        d = by_name("Deployment", name)
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate", name
    labels = by_name("PersistentVolumeClaim", "wirestream-labels")
    assert labels["spec"]["accessModes"] == ["ReadWriteOnce"], "SQLite wants a block volume"
    assert by_name("PersistentVolumeClaim", "wirestream-registry")["spec"]["accessModes"] == [
        "ReadWriteMany"
    ]
    retrain = pod_specs(by_name("CronJob", "wirestream-retrain"))[0]
    (term,) = retrain["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "labeller"
    assert term["topologyKey"] == "kubernetes.io/hostname"
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in retrain["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"wirestream-labels", "wirestream-registry"}
    label_store = Path(overlay_env("base")["WIRESTREAM_LABEL_STORE"])
    mounts = {m["mountPath"] for m in retrain["containers"][0]["volumeMounts"]}
    assert str(label_store.parent) in mounts


def test_secrets_are_placeholders_and_dropped_in_production() -> None:
    secrets = [d for d in load_all(BASE / "secrets.yaml") if d["kind"] == "Secret"]
    for secret in secrets:
        for key, value in secret.get("stringData", {}).items():
            assert value in ("", "REPLACE_ME") or "REPLACE_ME" in value, f"{key}: a real value?"
        assert "data" not in secret
    dropped = {d["metadata"]["name"] for d in load_all(PRODUCTION / "no-placeholder-secrets.yaml")}
    assert dropped == {s["metadata"]["name"] for s in secrets}
    referenced = set()
    for doc in k8s_docs():
        for c in containers(doc):
            referenced |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
        for pod in pod_specs(doc):
            referenced |= {
                v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v
            }
    assert referenced == dropped, "every Secret is used, and only these"


def test_monitoring_copies_match_their_sources() -> None:
    spec = importlib.util.spec_from_file_location(
        "deploy_validate", REPO / "deploy" / "validate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, text in module.monitoring_copies().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(REPO)} is stale: python deploy/validate.py --sync"
        )
