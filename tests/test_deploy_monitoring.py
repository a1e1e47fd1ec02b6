"""The monitoring configuration in deploy/: Prometheus config, alert rules, Grafana.

promtool comes from the Debian/Ubuntu ``prometheus`` package (.ci/run installs
it). Without it the promtool checks are skipped locally, but fail in CI (when
``CI`` is set), so a CI image without promtool cannot pass silently.

The metric names used by the rules and the dashboard are checked against what a
worker really exports: the registry of ``build_metrics`` after ``create_app``
has added Faust's sensor metrics to it, built in a subprocess so that Faust is
not imported into the test session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from wirestream.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "wirestream.yml"
RULE_TESTS = PROMETHEUS_DIR / "tests" / "wirestream_test.yml"
TARGETS = PROMETHEUS_DIR / "targets" / "wirestream.json"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "wirestream.json"
GRAFANA_DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "wirestream.yml"

DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_ALERTS = {
    "WirestreamStalled",
    "WirestreamDeadLetterShareHigh",
    "WirestreamReviewShareHigh",
    "WirestreamConsumerLagHigh",
    "WirestreamModelLoadFailure",
    "WirestreamWorkerDown",
    "WirestreamMilitaryConfrontationSurge",
    "WirestreamSendRetries",
    "WirestreamLabelAgreementLow",
}
REQUIRED_PANELS = {
    "Throughput",
    "End-to-end latency quantiles",
    "Batch classification time",
    "Topic mix",
    "Stance mix",
    "Focus mix",
    "Dead-letter rate by reason",
    "Review share",
    "Alerts by rule",
    "Consumer lag per partition",
    "Model version",
    "Model confidence",
    "Editors' agreement with the model",
    "Labels: received, stored, invalid, pending",
    "Model reloads, refusals and send retries",
}
SEVERITIES = {"critical", "warning", "info"}
# Labels that Prometheus attaches from the scrape config, not the worker.
TARGET_LABELS = {"job", "instance", "env"}

# A metric or recording-rule name of ours: wirestream_... or wirestream:...:...
# (not the bare job name "wirestream", not inside another identifier).
METRIC_NAME = re.compile(r"(?<![\w:])wirestream[_:][a-zA-Z0-9_:]*")
SELECTOR = re.compile(r"(?<![\w:])(wirestream[_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
DASHBOARD_MACRO = re.compile(r"\$__\w+|\$\{__\w+\}")
DASHBOARD_VARIABLE = re.compile(r"\$\{?\w+\}?")

# Builds the registry a worker serves, the way run_worker does, and prints its
# names, label names and label values as JSON.
EXPORTED_METRICS_SCRIPT = r"""
import json
import tempfile
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from wirestream.alerts import load_rules
from wirestream.settings import Settings
from wirestream.streams.app import create_app
from wirestream.streams.health import Health
from wirestream.streams.labeller import LabellerMetrics
from wirestream.streams.model_holder import ModelHolder
from wirestream.streams.worker import build_metrics

with tempfile.TemporaryDirectory() as tmp:
    settings = Settings(data_dir=Path(tmp))
    metrics = build_metrics(settings, [r.name for r in load_rules(settings.alert_rules)])
    metrics.set_model("0000000000000000", "2025-01-01T00:00:00Z")
    create_app(settings, ModelHolder(None, None), [], metrics, Health())  # adds wirestream_faust_*
    LabellerMetrics(metrics.registry)  # the labeller's metrics, scraped in the same job
    text = generate_latest(metrics.registry).decode()

    names, labelnames, values = set(), {}, {}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            labelnames.setdefault(sample.name, set()).update(sample.labels)
            for key, value in sample.labels.items():
                values.setdefault(sample.name, {}).setdefault(key, set()).add(value)
    # Label names of labelled metrics without any sample yet (e.g. the lag gauge).
    collectors = getattr(metrics.registry, "_names_to_collectors", {})
    for name, collector in collectors.items():
        labelnames.setdefault(name, set()).update(getattr(collector, "_labelnames", ()))
        names.add(name)

print(json.dumps({
    "names": sorted(names),
    "labelnames": {k: sorted(v) for k, v in labelnames.items()},
    "values": {k: {label: sorted(v) for label, v in d.items()} for k, d in values.items()},
}))
"""


# ------------------------------------------------------------------ helpers


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if _in_ci():
            pytest.fail(
                "promtool is not on PATH but CI is set: install it "
                "(apt-get install --no-install-recommends prometheus; see .ci/run)"
            )
        pytest.skip(
            "promtool not installed (apt-get install --no-install-recommends prometheus); "
            "this check fails instead of skipping when CI is set"
        )
    return path


def _run_promtool(*args: str | Path, cwd: Path = REPO) -> str:
    proc = subprocess.run(
        [_promtool(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"promtool {' '.join(map(str, args))} failed:\n{output}"
    return output


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES)["groups"] for rule in group["rules"]]


def _alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in _rules() if "alert" in rule}


def _records() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside collapsed rows; rows themselves excluded."""
    out = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            out.extend(panel.get("panels", []))
        else:
            out.append(panel)
    return out


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    return [
        (f"panel {panel.get('title')!r} target {target.get('refId')}", target.get("expr", ""))
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def _variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        out.append((f"variable {var.get('name')!r}", text))
    return out


@dataclass(frozen=True)
class Exported:
    names: set[str]
    labelnames: dict[str, set[str]]
    values: dict[str, dict[str, set[str]]]


@pytest.fixture(scope="module")
def exported() -> Exported:
    proc = subprocess.run(
        [sys.executable, "-c", EXPORTED_METRICS_SCRIPT],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"building the worker registry failed:\n{proc.stderr}"
    data = json.loads(proc.stdout)
    return Exported(
        names=set(data["names"]),
        labelnames={k: set(v) for k, v in data["labelnames"].items()},
        values={k: {label: set(v) for label, v in d.items()} for k, d in data["values"].items()},
    )


def _problems(where: str, expr: str, exported: Exported, records: set[str]) -> list[str]:
    """Unknown metric names, label names and label values in one PromQL expression."""
    problems = []
    names = set(METRIC_NAME.findall(expr))
    for name in sorted(names):
        if ":" in name:
            if name not in records:
                problems.append(f"{where}: recording rule {name} is not defined in {RULES.name}")
        elif name not in exported.names:
            problems.append(f"{where}: metric {name} is not exported by the worker")
    for name, body in SELECTOR.findall(expr):
        if ":" in name or name not in exported.names:
            continue
        known = exported.labelnames.get(name, set())
        for label, op, value in MATCHER.findall(body):
            if label in TARGET_LABELS:
                continue
            if label not in known:
                problems.append(f"{where}: {name} has no label {label!r} (has {sorted(known)})")
                continue
            seen = exported.values.get(name, {}).get(label)
            if not seen or "$" in value or op not in ("=", "=~"):
                continue
            if op == "=":
                wanted = [re.escape(value)]
            else:  # check every alternative of a plain alternation on its own
                wanted = value.split("|") if "(" not in value else [value]
            for want in wanted:
                if not any(re.fullmatch(want, have) for have in seen):
                    problems.append(
                        f"{where}: {name}{{{label}{op}{value!r}}}: no series has "
                        f"{label} matching {want!r} (values: {sorted(seen)})"
                    )
    if any(":" in name for name in names):
        return problems  # recorded series carry their own labels
    metric_labels = set().union(*(exported.labelnames.get(n, set()) for n in names))
    for group in GROUPING.findall(expr):
        for label in (part.strip() for part in group.split(",")):
            if label and label not in metric_labels | TARGET_LABELS:
                problems.append(
                    f"{where}: grouping label {label!r} is not a label of {sorted(names)}"
                )
    return problems


# ------------------------------------------------------------------ promtool


def test_promtool_check_config(tmp_path: Path) -> None:
    out = _run_promtool("check", "config", PROMETHEUS_CONFIG)
    assert "SUCCESS" in out
    # Relative paths resolve against the config file: a copy elsewhere, with
    # its own targets file, checked from another directory, is valid too.
    copy = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, copy)
    (copy / "targets" / "wirestream.json").write_text(
        json.dumps([{"targets": ["127.0.0.1:19308"], "labels": {"env": "test"}}])
    )
    out = _run_promtool("check", "config", copy / "prometheus.yml", cwd=tmp_path)
    assert "1 rule files found" in out


def test_promtool_check_rules() -> None:
    out = _run_promtool("check", "rules", RULES)
    assert f"SUCCESS: {len(_rules())} rules found" in out


def test_promtool_test_rules() -> None:
    out = _run_promtool("test", "rules", RULE_TESTS)
    assert "SUCCESS" in out


def test_dashboard_exprs_parse_as_promql(tmp_path: Path) -> None:
    """promtool check rules parses each panel query (Grafana variables substituted)."""
    rules = []
    for i, (where, expr) in enumerate(_dashboard_exprs(_dashboard())):
        expr = DASHBOARD_MACRO.sub("5m", expr)
        expr = DASHBOARD_VARIABLE.sub(".*", expr)
        rules.append({"record": f"dashboard_query_{i}", "expr": expr, "labels": {"where": where}})
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _run_promtool("check", "rules", path)


# ------------------------------------------------------------ metric names


def test_rule_metric_names_are_exported(exported: Exported) -> None:
    records = _records()
    problems = []
    for rule in _rules():
        where = f"rule {rule.get('alert') or rule.get('record')}"
        problems += _problems(where, rule["expr"], exported, records)
        for key, text in rule.get("annotations", {}).items():
            for name in METRIC_NAME.findall(text):
                if ":" not in name and name not in exported.names:
                    problems.append(f"{where} annotation {key}: {name} is not exported")
    assert not problems, "\n".join(problems)


def test_dashboard_metric_names_are_exported(exported: Exported) -> None:
    dashboard = _dashboard()
    records = _records()
    problems = []
    for where, expr in _dashboard_exprs(dashboard) + _variable_queries(dashboard):
        problems += _problems(where, expr, exported, records)
    assert not problems, "\n".join(problems)


def test_the_name_check_catches_a_renamed_metric(exported: Exported) -> None:
    records = _records()
    assert (
        _problems("x", "sum(rate(wirestream_stories_classified_total[5m]))", exported, records)
        == []
    )
    assert _problems("x", "rate(wirestream_stories_classifed_total[5m])", exported, records)
    assert _problems("x", "wirestream:no_such:record", exported, records)
    assert _problems("x", 'wirestream_classifications_total{stance="angry"}', exported, records)
    assert _problems(
        "x", 'wirestream_classifications_total{focus=~"military|navy"}', exported, records
    )
    assert _problems("x", "sum by (tp) (wirestream_consumer_lag_messages)", exported, records)
    assert (
        _problems(
            "x", "max by (topic, partition) (wirestream_consumer_lag_messages)", exported, records
        )
        == []
    )


# ------------------------------------------------------------------ rules


def test_alert_rules_are_complete() -> None:
    groups = {group["name"]: group for group in _load_yaml(RULES)["groups"]}
    assert "wirestream" in groups
    alerts = _alerts()
    missing = REQUIRED_ALERTS - set(alerts)
    assert not missing, f"missing alerts: {sorted(missing)}"
    for rule in groups["wirestream"]["rules"]:
        assert "alert" in rule, f"group wirestream holds alerts only, not {rule}"
    for name, rule in alerts.items():
        assert "for" in rule, f"{name} has no for:"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            assert str(annotations.get(key, "")).strip(), f"{name} has no {key} annotation"
    for record in _records():
        assert record.count(":") == 2, f"{record} is not named level:metric:operations"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    suite = _load_yaml(RULE_TESTS)
    assert [(RULE_TESTS.parent / f).resolve() for f in suite["rule_files"]] == [RULES.resolve()]
    firing, quiet = set(), set()
    for case in suite["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts - firing == set(), f"alerts never shown firing: {alerts - firing}"
    assert alerts - quiet == set(), f"alerts never shown quiet: {alerts - quiet}"


# ----------------------------------------------------------- scrape config


def test_scrape_config_reads_targets_from_file_sd() -> None:
    config = _load_yaml(PROMETHEUS_CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["wirestream"]
    assert "static_configs" not in job, "targets belong in targets/*.json only"
    assert job["file_sd_configs"] == [{"files": ["targets/*.json"], "refresh_interval": "30s"}]

    targets = json.loads(TARGETS.read_text(encoding="utf-8"))
    default = f"127.0.0.1:{Settings().metrics_port}"
    assert targets == [{"targets": [default], "labels": {"env": "dev"}}]


def test_grafana_provisioning() -> None:
    datasources = _load_yaml(GRAFANA_DATASOURCES)
    assert datasources["apiVersion"] == 1
    (prometheus,) = [d for d in datasources["datasources"] if d["type"] == "prometheus"]
    assert prometheus["url"] == "http://prometheus:9090"
    providers = _load_yaml(GRAFANA_PROVIDERS)
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


# ------------------------------------------------------------------ dashboard


def test_dashboard_identity_and_variables() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "wirestream-overview"
    assert dashboard["title"] == "wirestream"
    assert dashboard["schemaVersion"] >= 36
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource"
    assert datasource["query"] == "prometheus"
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE_REF, f"variable {var['name']}"
    assert {"job", "instance"} & set(variables)


def test_dashboard_panels() -> None:
    panels = _panels(_dashboard())
    titles = [panel.get("title") for panel in panels]
    missing = REQUIRED_PANELS - set(titles)
    assert not missing, f"missing panels: {sorted(missing)}"
    assert len(titles) == len(set(titles)), "duplicate panel titles"
    ids = [panel.get("id") for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        title = panel.get("title")
        assert panel.get("datasource") == DATASOURCE_REF, f"panel {title!r} datasource"
        targets = panel.get("targets", [])
        assert targets, f"panel {title!r} has no target"
        for target in targets:
            assert target.get("datasource") == DATASOURCE_REF, f"panel {title!r} target datasource"
            assert str(target.get("expr", "")).strip(), f"panel {title!r} has an empty expr"
        if title in ("End-to-end latency quantiles", "Batch classification time"):
            assert all("histogram_quantile" in t["expr"] for t in targets), title


def test_dashboard_panels_do_not_overlap() -> None:
    boxes = []
    for panel in _panels(_dashboard()):
        grid = panel["gridPos"]
        x, y, w, h = (grid[k] for k in ("x", "y", "w", "h"))
        assert w > 0 and h > 0 and x >= 0 and y >= 0, f"{panel['title']}: {grid}"
        assert x + w <= 24, f"{panel['title']} is wider than the 24-column grid: {grid}"
        boxes.append((panel["title"], x, y, w, h))
    for i, (a, ax, ay, aw, ah) in enumerate(boxes):
        for b, bx, by, bw, bh in boxes[i + 1 :]:
            overlap = ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah
            assert not overlap, f"panels {a!r} and {b!r} overlap"
