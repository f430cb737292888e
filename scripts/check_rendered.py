#!/usr/bin/env python3
"""Assertions on the gtt-gateway Helm chart's rendered manifests and monitoring files.

Run by scripts/check-deploy after `helm template`:

    check_rendered.py --chart charts/gtt-gateway \
        --case default=/tmp/default.yaml \
        --case all-on=/tmp/all-on.yaml:charts/gtt-gateway/ci/all-on-values.yaml

Each --case is NAME=RENDERED[:VALUES] (VALUES: the values file the render used, for the secrets
and expectations it holds). When GTT_GATEWAY_BIN names a built gtt-gateway binary, every rendered
gateway.toml is also validated with `$GTT_GATEWAY_BIN --config FILE check-config`.

Exits non-zero, listing every failed assertion, when anything is wrong. Needs PyYAML; uses
promql_parser (PyPI promql-parser) too when it is importable, to parse every PromQL expression.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - check-deploy installs it
    sys.exit("check_rendered.py: PyYAML is required (pip install pyyaml)")

try:
    import promql_parser  # type: ignore[import-not-found]
except ImportError:
    promql_parser = None

PREFIX = "gtt_gateway_"
COUNTERS_AND_GAUGES = {
    "callbacks_total",
    "callbacks_in_flight",
    "nats_connected",
    "stream_ready",
    "subscriptions",
    "gtt_requests_total",
    "token_refreshes_total",
    "build_info",
    "publish_failures_total",
    "storage_bytes",
    "storage_limit_bytes",
    "unmapped_values_total",
}
HISTOGRAMS = {"callback_duration_seconds", "publish_duration_seconds"}
ALLOWED_METRICS = {PREFIX + m for m in COUNTERS_AND_GAUGES} | {
    f"{PREFIX}{h}{suffix}" for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")
}
# Allowed values of the `outcome` label, per metric.
CALLBACK_OUTCOMES = set("accepted duplicate dead_lettered unauthorized rejected overloaded unavailable".split())
OUTCOMES = {
    PREFIX + "callbacks_total": CALLBACK_OUTCOMES,
    PREFIX + "callback_duration_seconds_bucket": CALLBACK_OUTCOMES,
    PREFIX + "token_refreshes_total": {"ok", "error", "rejected"},
}
# Alerts the brief requires (files/alerts.yaml may have more).
REQUIRED_ALERTS = {
    "GttGatewayNoCallbacks",
    "GttGatewayDeadLetters",
    "GttGatewayUnauthorizedCallbacks",
    "GttGatewayCallbacksUnavailable",
    "GttGatewayStorageFull",
    "GttGatewayNatsDisconnected",
    "GttGatewaySubscriptionMissing",
    "GttGatewayTokenRefreshFailing",
    "GttGatewayUnmappedValues",
}
# Metric families the dashboard must show.
REQUIRED_DASHBOARD_METRICS = {
    PREFIX + "callbacks_total",
    PREFIX + "callback_duration_seconds_bucket",
    PREFIX + "publish_duration_seconds_bucket",
    PREFIX + "subscriptions",
    PREFIX + "token_refreshes_total",
    PREFIX + "callbacks_in_flight",
    PREFIX + "nats_connected",
    PREFIX + "gtt_requests_total",
}
# Environment variable names that look like they hold a secret: none may be set (secrets are files).
SECRET_ENV_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|NKEY|CREDENTIALS")
# TOML keys that hold secrets inline: never in a ConfigMap.
SECRET_TOML_KEYS = {"secret", "client_secret", "previous_secrets", "secrets", "password", "token"}
# TOML keys naming a file from a Secret, and the chart's file name behind each (in the one
# projected secrets volume).
SECRETS_DIR = "/var/run/secrets/gtt-gateway"
SECRET_FILE_KEYS = {
    "callbacks.secret_file": "callback-secret",
    "callbacks.previous_secrets_file": "previous-callback-secrets",
    "callbacks.signature.secrets_file": "signature-secrets",
    "gtt.client_secret_file": "gtt-client-secret",
    "nats.password_file": "nats-password",
    "nats.token_file": "nats-token",
    "nats.nkey_seed_file": "nats-nkey",
    "nats.credentials_file": "nats.creds",
    "nats.tls.ca_file": "nats-ca.crt",
    "nats.tls.cert_file": "nats-tls.crt",
    "nats.tls.key_file": "nats-tls.key",
}
PROMQL_KEYWORDS = set(
    "and or unless by without on ignoring group_left group_right bool offset inf nan atan2 start end".split()
    # aggregation operators: `sum by (x) (...)` puts a modifier between the name and its "("
    + "sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio".split()
)
GRAFANA_VARS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}

failures: list[str] = []
passes = 0


def check(ok: bool, message: str) -> bool:
    """Record one assertion."""
    global passes
    if ok:
        passes += 1
    else:
        failures.append(message)
    return ok


# ---------------------------------------------------------------------------------------------
# PromQL


def _strip_for_names(expr: str) -> str:
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"`[^`]*`", "``", s)
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges and subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r" \1 ", s)
    s = re.sub(r"\boffset\s+-?[0-9A-Za-z$_]+", " ", s)
    s = re.sub(r"(?<![A-Za-z0-9_:])[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", " ", s)
    return s


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (identifiers that are not functions/keywords)."""
    s = _strip_for_names(expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        token = match.group(0)
        rest = s[match.end() :].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation
        if token.lower() in PROMQL_KEYWORDS:
            continue
        names.add(token)
    # {__name__="..."} selectors
    names |= set(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    return names


def ast_metric_names(expr: str) -> set[str]:
    """Metric names from promql_parser's AST (raises ValueError on a syntax error)."""
    assert promql_parser is not None
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    names.add(m.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def substitute_grafana_vars(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def check_outcome_values(where: str, expr: str) -> None:
    for metric, allowed in OUTCOMES.items():
        for matchers in re.findall(re.escape(metric) + r"\{([^}]*)\}", expr):
            for op, value in re.findall(r'\boutcome\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                values = set(value.split("|")) if op in ("=~", "!~") else {value}
                unknown = {v for v in values if v not in allowed and not v.startswith("$")}
                check(not unknown, f"{where}: {metric} outcome {sorted(unknown)} is not one of {sorted(allowed)}")


def check_expr(where: str, expr: str, *, grafana: bool = False) -> set[str]:
    """Every metric in `expr` is a gtt-gateway metric; the expression parses."""
    text = substitute_grafana_vars(expr) if grafana else expr
    names = metric_names(text)
    check(bool(names), f"{where}: no metric found in {expr!r}")
    bad = sorted(n for n in names if n not in ALLOWED_METRICS)
    check(not bad, f"{where}: unknown metric name(s) {bad} in {expr!r}")
    check_outcome_values(where, text)
    if promql_parser is not None:
        try:
            ast_names = ast_metric_names(text)
        except (ValueError, SyntaxError) as e:
            check(False, f"{where}: PromQL does not parse ({e}): {expr!r}")
        else:
            check(ast_names == names, f"{where}: metric names by parser {sorted(ast_names)} != {sorted(names)}")
    return names


# ---------------------------------------------------------------------------------------------
# files/alerts.yaml, files/dashboard.json, values.schema.json


def check_alert_rules(where: str, groups: list[dict[str, Any]]) -> set[str]:
    names = set()
    check(bool(groups), f"{where}: no rule groups")
    for group in groups:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record") or "?"
            here = f"{where}: {name}"
            if "alert" in rule:
                names.add(rule["alert"])
                labels = rule.get("labels") or {}
                check(
                    labels.get("severity") in ("critical", "warning", "info"),
                    f"{here}: labels.severity must be critical|warning|info, got {labels.get('severity')!r}",
                )
                annotations = rule.get("annotations") or {}
                for key in ("summary", "description", "runbook"):
                    check(bool(str(annotations.get(key, "")).strip()), f"{here}: annotation {key!r} missing or empty")
            check(isinstance(rule.get("expr"), str) and rule["expr"].strip() != "", f"{here}: no expr")
            if isinstance(rule.get("expr"), str):
                check_expr(here, rule["expr"])
    return names


def check_alerts_file(chart: Path) -> set[str]:
    path = chart / "files" / "alerts.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        check(False, f"{path}: cannot read/parse: {e}")
        return set()
    names = check_alert_rules(str(path), doc.get("groups") or [])
    missing = REQUIRED_ALERTS - names
    check(not missing, f"{path}: required alerts missing: {sorted(missing)}")
    return names


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and query variable."""
    out = []

    def panels(items: list[dict[str, Any]]):
        for p in items:
            yield p
            yield from panels(p.get("panels") or [])

    for p in panels(dashboard.get("panels") or []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((f"panel {p.get('title')!r} target {t.get('refId')}", t["expr"]))
    for v in (dashboard.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        query = v.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not query:
            continue
        m = re.match(r"^\s*label_values\(\s*(.+?)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", query)
        if m:
            out.append((f"variable {v.get('name')!r}", m.group(1)))
            continue
        m = re.match(r"^\s*query_result\((.*)\)\s*$", query)
        out.append((f"variable {v.get('name')!r}", m.group(1) if m else query))
    return out


def check_dashboard(where: str, text: str) -> None:
    try:
        dashboard = json.loads(text)
    except json.JSONDecodeError as e:
        check(False, f"{where}: dashboard JSON does not parse: {e}")
        return
    check(
        isinstance(dashboard.get("schemaVersion"), int) and dashboard["schemaVersion"] >= 36,
        f"{where}: schemaVersion should be >= 36, got {dashboard.get('schemaVersion')!r}",
    )
    variables = (dashboard.get("templating") or {}).get("list") or []
    check(
        any(v.get("type") == "datasource" and v.get("query") == "prometheus" for v in variables),
        f"{where}: no Prometheus datasource variable",
    )
    queries = dashboard_queries(dashboard)
    check(bool(queries), f"{where}: no queries")
    used: set[str] = set()
    for here, expr in queries:
        used |= check_expr(f"{where}: {here}", expr, grafana=True)
    missing = REQUIRED_DASHBOARD_METRICS - used
    check(not missing, f"{where}: dashboard shows none of {sorted(missing)}")
    ids = [p.get("id") for p in dashboard.get("panels") or []]
    check(len(ids) == len(set(ids)), f"{where}: duplicate panel ids")


def check_schema(chart: Path, alert_names: set[str]) -> None:
    path = chart / "values.schema.json"
    try:
        schema = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        check(False, f"{path}: cannot read/parse: {e}")
        return
    check("draft-07" in schema.get("$schema", ""), f"{path}: not a draft-07 schema")
    values = yaml.safe_load((chart / "values.yaml").read_text())

    def walk(value: Any, node: dict[str, Any], key: str) -> None:
        if not isinstance(node, dict) or "properties" not in node:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                check(k in node["properties"], f"{path}: values key {key}{k} is not in the schema")
                walk(v, node["properties"].get(k, {}), f"{key}{k}.")

    walk(values, schema, "")
    enum = schema["properties"]["prometheusRule"]["properties"]["disabledAlerts"]["items"].get("enum") or []
    check(
        set(enum) == alert_names,
        f"{path}: prometheusRule.disabledAlerts enum {sorted(enum)} != alerts in files/alerts.yaml {sorted(alert_names)}",
    )


# ---------------------------------------------------------------------------------------------
# Rendered manifests


def humantime_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    parts = re.findall(r"([0-9]+)\s*(ms|s|m|h|d|w)", text)
    if not parts or re.sub(r"[0-9]+\s*(ms|s|m|h|d|w)|\s", "", text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def decode_secret(obj: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    data.update(obj.get("stringData") or {})
    return data


def secret_strings(values: dict[str, Any], secrets: list[dict[str, Any]]) -> set[str]:
    """Every secret value: from the values file and from rendered Secrets (arrays expanded)."""
    found: set[str] = set()
    s = (values or {}).get("secrets") or {}
    for key in ("callbackSecret", "gttClientSecret"):
        if s.get(key):
            found.add(str(s[key]))
    for key in ("previousCallbackSecrets", "signatureSecrets"):
        found |= {str(x) for x in s.get(key) or []}
    for obj in secrets:
        for value in decode_secret(obj).values():
            found.add(value)
            found |= set(value.splitlines())
    return {x for x in found if len(x) >= 8}


def secret_sources(volume: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secrets of a volume (a secret volume, or the secret sources of a projected one)."""
    sources = [src["secret"] for src in dig(volume, "projected", "sources", default=[]) or [] if "secret" in src]
    return sources + ([volume["secret"]] if "secret" in volume else [])


def secret_files(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files in the gateway's secrets directory: file name -> (Secret name, key)."""
    pod = dig(deployment, "spec", "template", "spec", default={})
    container = (pod.get("containers") or [{}])[0]
    files: dict[str, tuple[str, str]] = {}
    for vol in pod.get("volumes") or []:
        mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") == vol["name"]]
        if any(m.get("mountPath") == SECRETS_DIR for m in mounts):
            for src in secret_sources(vol):
                for item in src.get("items") or []:
                    files[item["path"]] = (src.get("name") or src.get("secretName"), item["key"])
    return files


def flat_toml(node: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a TOML document (tables only) under its dotted key."""
    out: dict[str, Any] = {}
    for k, v in (node or {}).items():
        if isinstance(v, dict):
            out.update(flat_toml(v, f"{path}{k}."))
        else:
            out[f"{path}{k}"] = v
    return out


def toml_keys(node: Any, path: str = "") -> list[str]:
    keys = []
    if isinstance(node, dict):
        for k, v in node.items():
            keys.append(f"{path}{k}")
            keys += toml_keys(v, f"{path}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            keys += toml_keys(v, f"{path}[{i}].")
    return keys


def dig(obj: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(obj, dict) or k not in obj:
            return default
        obj = obj[k]
    return obj


class Case:
    def __init__(self, name: str, rendered: Path, values_file: Path | None, chart: Path):
        self.name = name
        self.chart = chart
        self.values = yaml.safe_load(values_file.read_text()) if values_file else {}
        self.values = self.values or {}
        docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
        self.docs = docs
        self.by_kind: dict[str, list[dict[str, Any]]] = {}
        for d in docs:
            self.by_kind.setdefault(d.get("kind", "?"), []).append(d)
        self.config_text: str | None = None
        self.config: dict[str, Any] = {}

    def one(self, kind: str) -> dict[str, Any] | None:
        items = self.by_kind.get(kind, [])
        check(len(items) == 1, f"[{self.name}] expected exactly one {kind}, found {len(items)}")
        return items[0] if items else None

    def v(self, *keys: str, default: Any = None) -> Any:
        return dig(self.values, *keys, default=default)


def check_case(case: Case, app_version: str, alert_names: set[str]) -> None:
    n = f"[{case.name}]"
    deployment = case.one("Deployment")
    service = case.one("Service")
    if not deployment or not service:
        return
    pod = dig(deployment, "spec", "template", "spec", default={})
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"{n} expected one container, found {len(containers)}")
    if not containers:
        return
    c = containers[0]

    # --- the config ConfigMap ---------------------------------------------------------------
    config_maps = [cm for cm in case.by_kind.get("ConfigMap", []) if "gateway.toml" in (cm.get("data") or {})]
    check(len(config_maps) == 1, f"{n} expected one ConfigMap with gateway.toml, found {len(config_maps)}")
    if config_maps:
        case.config_text = config_maps[0]["data"]["gateway.toml"]
        try:
            case.config = tomllib.loads(case.config_text)
        except tomllib.TOMLDecodeError as e:
            check(False, f"{n} gateway.toml is not valid TOML: {e}")
        leaked = [k for k in toml_keys(case.config) if k.split(".")[-1] in SECRET_TOML_KEYS]
        check(not leaked, f"{n} gateway.toml has secret keys {leaked} (secrets must come from the Secret)")
        volume = next(
            (
                vol
                for vol in pod.get("volumes") or []
                if dig(vol, "configMap", "name") == config_maps[0]["metadata"]["name"]
            ),
            None,
        )
        check(volume is not None, f"{n} the config ConfigMap is not mounted")
        if volume:
            mount = next((m for m in c.get("volumeMounts") or [] if m.get("name") == volume["name"]), None)
            items = dig(volume, "configMap", "items", default=[]) or []
            item_path = next((i["path"] for i in items if i.get("key") == "gateway.toml"), "gateway.toml")
            mounted = f"{mount['mountPath'].rstrip('/')}/{item_path}" if mount else None
            check(
                mounted == "/etc/gtt-gateway/gateway.toml",
                f"{n} gateway.toml mounted at {mounted}, expected /etc/gtt-gateway/gateway.toml",
            )
            args = (c.get("command") or []) + (c.get("args") or [])
            check(
                "--config" in args and args[args.index("--config") + 1] == mounted,
                f"{n} container args {args} do not pass --config {mounted}",
            )
            check(args[-1:] == ["serve"], f"{n} container args {args} do not end with serve")
    checksum = dig(deployment, "spec", "template", "metadata", "annotations", "checksum/config")
    check(
        bool(checksum) and re.fullmatch(r"[0-9a-f]{64}", str(checksum)) is not None,
        f"{n} pod template lacks a checksum/config annotation",
    )

    # --- ports and probes --------------------------------------------------------------------
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    container_port = ports.get("http")
    check(container_port is not None, f"{n} container has no port named http")
    listen = dig(case.config, "server", "listen", default="0.0.0.0:8080")
    listen_port = int(str(listen).rsplit(":", 1)[-1])
    check(container_port == listen_port, f"{n} container port {container_port} != server.listen port {listen_port}")
    svc_ports = dig(service, "spec", "ports", default=[]) or []
    http = next((p for p in svc_ports if p.get("name") == "http"), None)
    check(http is not None, f"{n} Service has no port named http")
    if http:
        check(
            http.get("targetPort") in ("http", container_port),
            f"{n} Service targetPort {http.get('targetPort')} is not the container's http port",
        )
        check(
            http.get("port") == case.v("service", "port", default=8080),
            f"{n} Service port {http.get('port')} != service.port",
        )
    check(dig(service, "spec", "type") == case.v("service", "type", default="ClusterIP"), f"{n} Service type")
    check(
        dig(service, "spec", "selector") == dig(deployment, "spec", "selector", "matchLabels"),
        f"{n} Service selector does not match the Deployment's selector",
    )

    def probe_ok(name: str, path: str) -> None:
        probe = c.get(name)
        if not check(probe is not None, f"{n} no {name}"):
            return
        get = probe.get("httpGet") or {}
        check(get.get("path") == path, f"{n} {name} path {get.get('path')!r}, expected {path!r}")
        check(
            get.get("port") in ("http", container_port),
            f"{n} {name} port {get.get('port')!r} is not the http port {container_port}",
        )

    probe_ok("livenessProbe", "/healthz")
    probe_ok("readinessProbe", "/readyz")
    if c.get("startupProbe"):
        probe_ok("startupProbe", "/healthz")

    # --- secrets: read-only files from Secrets, never environment variables ------------------------
    secrets = case.by_kind.get("Secret", [])
    existing = case.v("secrets", "existingSecret", "name", default="")
    if existing:
        check(not secrets, f"{n} existingSecret is set but the chart still renders a Secret")
        secret_name = existing
        secret_data = None
    else:
        check(len(secrets) == 1, f"{n} expected the chart's Secret, found {len(secrets)}")
        secret_name = secrets[0]["metadata"]["name"] if secrets else None
        secret_data = decode_secret(secrets[0]) if secrets else {}
    for e in c.get("env") or []:
        check("valueFrom" not in e or "secretKeyRef" not in e["valueFrom"], f"{n} env {e['name']} comes from a Secret")
        check(
            not SECRET_ENV_NAME.search(e["name"]),
            f"{n} env {e['name']} looks like a secret (secrets must be files, not environment variables)",
        )
    check(
        not any("secretRef" in f for f in c.get("envFrom") or []),
        f"{n} envFrom takes a Secret into the environment",
    )
    annotations = dig(deployment, "spec", "template", "metadata", "annotations", default={}) or {}
    check(
        "checksum/secret" not in annotations,
        f"{n} the pod template has a checksum of the Secret: a rotated secret would restart the pods",
    )
    # The files: one projected volume of Secret items, mounted read-only without subPath (the
    # kubelet only updates whole volumes in place); each *_file key names one of its items.
    for vol in pod.get("volumes") or []:
        if secret_sources(vol):
            for m in (m for m in c.get("volumeMounts") or [] if m.get("name") == vol["name"]):
                check(m.get("readOnly") is True, f"{n} secret volume {vol['name']} is mounted writable")
                check("subPath" not in m, f"{n} secret volume {vol['name']} mounted with subPath (never updated)")
    files = {name: secret for name, (secret, _) in secret_files(deployment).items()}
    mounted = bool(files)
    check(mounted, f"{n} no Secret volume mounted at {SECRETS_DIR}")
    file_keys = {k: v for k, v in flat_toml(case.config).items() if k in SECRET_FILE_KEYS}
    for key, path in file_keys.items():
        name = SECRET_FILE_KEYS[key]
        check(path == f"{SECRETS_DIR}/{name}", f"{n} {key} = {path!r}, expected {SECRETS_DIR}/{name}")
        check(name in files, f"{n} {key} names {name}, which no mounted Secret provides")
    unused = set(files) - {SECRET_FILE_KEYS[k] for k in file_keys}
    check(not unused, f"{n} secret files mounted but not in the config: {sorted(unused)}")
    check(files.get("callback-secret") == secret_name, f"{n} the callback secret is not a file from {secret_name}")

    # What the values ask for is wired.
    def wants(values_key: str, existing_key: str) -> bool:
        return bool(case.v("secrets", "existingSecret", existing_key) if existing else case.v("secrets", values_key))

    expected = {"callbacks.secret_file"}
    if wants("gttClientSecret", "gttClientSecretKey"):
        expected.add("gtt.client_secret_file")
    if wants("previousCallbackSecrets", "previousCallbackSecretsKey"):
        expected.add("callbacks.previous_secrets_file")
    if wants("signatureSecrets", "signatureSecretsKey"):
        expected.add("callbacks.signature.secrets_file")
    method = case.v("natsAuth", "method", default="none")
    if method != "none":
        expected.add({"password": "nats.password_file", "token": "nats.token_file", "nkey": "nats.nkey_seed_file"}[method])
        check(files.get(f"nats-{method}") == case.v("natsAuth", "secretName"), f"{n} natsAuth secret not mounted")
    if case.v("natsCredentials", "secretName"):
        expected.add("nats.credentials_file")
    if case.v("natsTls", "secretName"):
        expected |= {"nats.tls.ca_file", "nats.tls.cert_file", "nats.tls.key_file"}
    check(set(file_keys) == expected, f"{n} secret files in the config {sorted(file_keys)}, expected {sorted(expected)}")
    if secret_data is not None:
        check(
            len(secret_data.get("callback-secret", "")) >= 16,
            f"{n} the Secret's callback-secret is shorter than 16 bytes",
        )
        if case.v("secrets", "gttClientSecret"):
            check(
                secret_data.get("gtt-client-secret") == case.v("secrets", "gttClientSecret"),
                f"{n} gtt-client-secret in the Secret differs from secrets.gttClientSecret",
            )
        for values_key, data_key in (
            ("previousCallbackSecrets", "previous-callback-secrets"),
            ("signatureSecrets", "signature-secrets"),
        ):
            if case.v("secrets", values_key):
                check(
                    secret_data.get(data_key, "").splitlines() == case.v("secrets", values_key),
                    f"{n} {data_key} in the Secret is not secrets.{values_key}, one a line",
                )

    secret_values = secret_strings(case.values, secrets)
    for obj in case.docs:
        if obj.get("kind") == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for sv in secret_values:
            encoded = base64.b64encode(sv.encode()).decode()
            check(
                sv not in text and encoded not in text,
                f"{n} a secret value appears in {obj.get('kind')} {dig(obj, 'metadata', 'name')}",
            )
    if case.name != "default":
        check(
            bool(secret_values) or bool(existing),
            f"{n} no secret values to look for (use fake secrets in the values file)",
        )

    # --- security context ---------------------------------------------------------------------
    psc = pod.get("securityContext") or {}
    csc = c.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True, f"{n} pod securityContext.runAsNonRoot must be true")
    check(psc.get("runAsUser") == 65532, f"{n} pod securityContext.runAsUser must be 65532")
    check(dig(psc, "seccompProfile", "type") == "RuntimeDefault", f"{n} pod seccompProfile must be RuntimeDefault")
    check(csc.get("runAsNonRoot") is True, f"{n} container runAsNonRoot must be true")
    check(csc.get("runAsUser") == 65532, f"{n} container runAsUser must be 65532")
    check(csc.get("readOnlyRootFilesystem") is True, f"{n} container readOnlyRootFilesystem must be true")
    check(csc.get("allowPrivilegeEscalation") is False, f"{n} container allowPrivilegeEscalation must be false")
    check("ALL" in (dig(csc, "capabilities", "drop", default=[]) or []), f"{n} container must drop ALL capabilities")
    check(not (dig(csc, "capabilities", "add", default=[]) or []), f"{n} container must add no capabilities")
    check(
        dig(csc, "seccompProfile", "type", default="RuntimeDefault") == "RuntimeDefault",
        f"{n} container seccompProfile must be RuntimeDefault",
    )
    check(csc.get("privileged") in (None, False), f"{n} container must not be privileged")
    check(pod.get("automountServiceAccountToken") is False, f"{n} the pod should not mount a service account token")
    res = c.get("resources") or {}
    for part in ("requests", "limits"):
        check(
            bool(dig(res, part, "cpu")) and bool(dig(res, part, "memory")), f"{n} resources.{part} cpu/memory missing"
        )

    # --- shutdown, rollout, availability ---------------------------------------------------------
    grace = dig(case.config, "server", "shutdown_grace", default="20s")
    try:
        grace_s = humantime_seconds(str(grace))
    except ValueError as e:
        check(False, f"{n} server.shutdown_grace: {e}")
        grace_s = 0
    pre_stop = dig(c, "lifecycle", "preStop", "sleep", "seconds", default=0) or 0
    tgps = pod.get("terminationGracePeriodSeconds")
    check(
        isinstance(tgps, int) and tgps > grace_s + pre_stop,
        f"{n} terminationGracePeriodSeconds {tgps} must exceed shutdown_grace {grace_s}s + preStop {pre_stop}s",
    )
    strategy = dig(deployment, "spec", "strategy", default={})
    check(strategy.get("type") == "RollingUpdate", f"{n} Deployment strategy must be RollingUpdate")
    check(
        dig(strategy, "rollingUpdate", "maxUnavailable") in (0, "0", "0%"),
        f"{n} rollingUpdate.maxUnavailable must be 0",
    )
    check(
        dig(strategy, "rollingUpdate", "maxSurge") not in (None, 0, "0", "0%"),
        f"{n} rollingUpdate.maxSurge must be > 0",
    )

    hpas = case.by_kind.get("HorizontalPodAutoscaler", [])
    if case.v("autoscaling", "enabled", default=False):
        check(len(hpas) == 1, f"{n} autoscaling.enabled but no HorizontalPodAutoscaler")
        check("replicas" not in deployment["spec"], f"{n} Deployment sets replicas although an HPA scales it")
        for hpa in hpas:
            check(hpa.get("apiVersion") == "autoscaling/v2", f"{n} HPA must be autoscaling/v2")
            check(
                dig(hpa, "spec", "scaleTargetRef", "name") == deployment["metadata"]["name"],
                f"{n} HPA targets another object",
            )
            check(
                any(dig(m, "resource", "name") == "cpu" for m in dig(hpa, "spec", "metrics", default=[]) or []),
                f"{n} HPA has no CPU metric",
            )
        replicas = dig(hpas[0], "spec", "minReplicas", default=1) if hpas else 1
    else:
        check(not hpas, f"{n} unexpected HorizontalPodAutoscaler")
        replicas = deployment["spec"].get("replicas")
        check(replicas == case.v("replicaCount", default=2), f"{n} replicas {replicas} != replicaCount")
    pdbs = case.by_kind.get("PodDisruptionBudget", [])
    if replicas and replicas > 1:
        check(len(pdbs) == 1, f"{n} {replicas} replicas but no PodDisruptionBudget")
        for pdb in pdbs:
            check(
                dig(pdb, "spec", "selector", "matchLabels") == dig(deployment, "spec", "selector", "matchLabels"),
                f"{n} PDB selector does not match the Deployment",
            )
            check(
                dig(pdb, "spec", "minAvailable") is not None or dig(pdb, "spec", "maxUnavailable") is not None,
                f"{n} PDB has neither minAvailable nor maxUnavailable",
            )

    # --- image ----------------------------------------------------------------------------------
    image = c.get("image", "")
    if not case.v("image", "tag") and not case.v("image", "digest"):
        check(image.endswith(f":{app_version}"), f"{n} image {image!r} should be tagged with appVersion {app_version}")

    # --- optional objects ---------------------------------------------------------------------------
    for ing in case.by_kind.get("Ingress", []):
        for rule in dig(ing, "spec", "rules", default=[]) or []:
            for path in dig(rule, "http", "paths", default=[]) or []:
                check(
                    path.get("path") == "/v1/hooks/gtt",
                    f"{n} Ingress exposes {path.get('path')!r}; only /v1/hooks/gtt is public",
                )
                port = dig(path, "backend", "service", "port", default={})
                check(
                    port.get("name") == "http" or port.get("number") == dig(http or {}, "port"),
                    f"{n} Ingress backend port {port} is not the Service's http port",
                )
                check(
                    dig(path, "backend", "service", "name") == service["metadata"]["name"],
                    f"{n} Ingress backend is not the Service",
                )
        if case.v("ingress", "tls"):
            check(bool(dig(ing, "spec", "tls")), f"{n} ingress.tls set but the Ingress has no tls")
        if case.v("ingress", "className"):
            check(dig(ing, "spec", "ingressClassName") == case.v("ingress", "className"), f"{n} Ingress className")
    if case.v("ingress", "enabled", default=False):
        check(len(case.by_kind.get("Ingress", [])) == 1, f"{n} ingress.enabled but no Ingress")

    for sm in case.by_kind.get("ServiceMonitor", []):
        endpoints = dig(sm, "spec", "endpoints", default=[]) or []
        check(
            any(e.get("port") == "http" and e.get("path") == "/metrics" for e in endpoints),
            f"{n} ServiceMonitor does not scrape port http path /metrics",
        )
        check(
            dig(sm, "spec", "selector", "matchLabels", default={}).items()
            <= (dig(service, "metadata", "labels", default={}) or {}).items(),
            f"{n} ServiceMonitor selector does not match the Service's labels",
        )
    if case.v("serviceMonitor", "enabled", default=False):
        check(len(case.by_kind.get("ServiceMonitor", [])) == 1, f"{n} serviceMonitor.enabled but no ServiceMonitor")

    for rule in case.by_kind.get("PrometheusRule", []):
        names = check_alert_rules(f"{n} PrometheusRule", dig(rule, "spec", "groups", default=[]) or [])
        disabled = set(case.v("prometheusRule", "disabledAlerts", default=[]) or [])
        check(
            names >= (alert_names - disabled),
            f"{n} PrometheusRule lacks alerts {sorted(alert_names - disabled - names)}",
        )
        window = case.v("prometheusRule", "noCallbacksWindow", default="1h")
        for group in dig(rule, "spec", "groups", default=[]) or []:
            for r in group.get("rules") or []:
                if r.get("alert") == "GttGatewayNoCallbacks":
                    check(f"[{window}]" in r["expr"], f"{n} GttGatewayNoCallbacks does not use the window {window}")
                for label, value in (case.v("prometheusRule", "additionalRuleLabels", default={}) or {}).items():
                    if "alert" in r:
                        check(
                            (r.get("labels") or {}).get(label) == value,
                            f"{n} {r.get('alert')}: additional label {label} missing",
                        )
    if case.v("prometheusRule", "enabled", default=False):
        check(len(case.by_kind.get("PrometheusRule", [])) == 1, f"{n} prometheusRule.enabled but no PrometheusRule")

    dashboards = [cm for cm in case.by_kind.get("ConfigMap", []) if cm not in config_maps]
    for cm in dashboards:
        wanted = case.v("dashboard", "labels", default={"grafana_dashboard": "1"}) or {}
        check(
            wanted.items() <= (dig(cm, "metadata", "labels", default={}) or {}).items(),
            f"{n} dashboard ConfigMap lacks the labels {wanted}",
        )
        for key, text in (cm.get("data") or {}).items():
            check(key.endswith(".json"), f"{n} dashboard ConfigMap key {key} is not a .json file")
            check_dashboard(f"{n} dashboard ConfigMap {key}", text)
    if case.v("dashboard", "enabled", default=False):
        check(len(dashboards) == 1, f"{n} dashboard.enabled but no dashboard ConfigMap")

    for np in case.by_kind.get("NetworkPolicy", []):
        spec = np.get("spec") or {}
        check(set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}, f"{n} NetworkPolicy policyTypes")
        in_ports = {p.get("port") for r in spec.get("ingress") or [] for p in r.get("ports") or []}
        check(
            container_port in in_ports or "http" in in_ports, f"{n} NetworkPolicy does not admit port {container_port}"
        )
        out_ports = {p.get("port") for r in spec.get("egress") or [] for p in r.get("ports") or []}
        nats_ports = set(case.v("networkPolicy", "egress", "nats", "ports", default=[4222]) or [])
        for port in {53, 443} | nats_ports:
            check(port in out_ports, f"{n} NetworkPolicy egress lacks port {port}")
    if case.v("networkPolicy", "enabled", default=False):
        check(len(case.by_kind.get("NetworkPolicy", [])) == 1, f"{n} networkPolicy.enabled but no NetworkPolicy")

    # `helm test` pod: asks the Service for /readyz with the image's own healthcheck command
    tests = [p for p in case.by_kind.get("Pod", []) if dig(p, "metadata", "annotations", "helm.sh/hook") == "test"]
    check(len(tests) == 1, f"{n} expected one `helm test` pod, found {len(tests)}")
    selector = dig(deployment, "spec", "selector", "matchLabels", default={}) or {}
    for test in tests:
        labels = dig(test, "metadata", "labels", default={}) or {}
        check(not selector.items() <= labels.items(), f"{n} the test pod matches the Deployment's selector")
        tc = (dig(test, "spec", "containers", default=[]) or [{}])[0]
        url = f"http://{service['metadata']['name']}:{dig(http or {}, 'port')}/readyz"
        check(
            tc.get("args") == ["healthcheck", "--url", url],
            f"{n} test pod args {tc.get('args')}, expected healthcheck --url {url}",
        )
        check((tc.get("securityContext") or {}).get("readOnlyRootFilesystem") is True, f"{n} test pod securityContext")

    # every object carries the common labels
    for obj in case.docs:
        labels = dig(obj, "metadata", "labels", default={}) or {}
        check(
            str(labels.get("app.kubernetes.io/name", "")).startswith("gtt-gateway") and "helm.sh/chart" in labels,
            f"{n} {obj.get('kind')} {dig(obj, 'metadata', 'name')} lacks the chart's labels",
        )


# ---------------------------------------------------------------------------------------------
# check-config with the real binary


def nkey_user_seed() -> str:
    """A fresh NATS user nkey seed (`SU...`): base32 of the seed and user prefixes, 32 random
    bytes and a CRC-16 (XMODEM), as the nkeys libraries encode it."""
    seed, user = 18 << 3, 20 << 3
    raw = bytes([seed | (user >> 5), (user & 31) << 3]) + os.urandom(32)
    crc = 0
    for byte in raw:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return base64.b32encode(raw + crc.to_bytes(2, "little")).decode().rstrip("=")


def dummy_secret_files(directory: Path) -> dict[str, str]:
    """Contents that check-config accepts for every file the chart may mount."""
    dummy = "0123456789abcdef" * 2  # 32 characters
    seed = nkey_user_seed()
    creds = (
        "-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.c2ln\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
    key, cert = directory / "tls.key", directory / "tls.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=check-config"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return {
        "callback-secret": dummy,
        "previous-callback-secrets": dummy,
        "signature-secrets": "whsec_" + base64.b64encode(b"dummy-signature-key-32-bytes-xxx").decode(),
        "gtt-client-secret": dummy,
        "nats-password": dummy,
        "nats-token": dummy,
        "nats-nkey": seed,
        "nats.creds": creds,
        "nats-ca.crt": cert.read_text(),
        "nats-tls.crt": cert.read_text(),
        "nats-tls.key": key.read_text(),
    }


def run_check_config(case: Case, binary: str) -> None:
    """`check-config` on the rendered config, with every secret file it names in place: the
    rendered Secret's value where there is one, else a dummy."""
    n = f"[{case.name}]"
    if case.config_text is None:
        return
    deployment = case.by_kind["Deployment"][0]
    rendered: dict[tuple[str, str], str] = {}
    for s in case.by_kind.get("Secret", []):
        rendered.update({(s["metadata"]["name"], k): v for k, v in decode_secret(s).items()})
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    with tempfile.TemporaryDirectory() as tmp:
        secrets_dir = Path(tmp) / "secrets"
        secrets_dir.mkdir()
        dummies = dummy_secret_files(Path(tmp))
        for name, source in secret_files(deployment).items():
            (secrets_dir / name).write_text(rendered.get(source, dummies[name]))
        path = Path(tmp) / "gateway.toml"
        path.write_text(case.config_text.replace(SECRETS_DIR, str(secrets_dir)))
        try:
            proc = subprocess.run(
                [binary, "--config", str(path), "check-config"],
                check=False,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            check(False, f"{n} cannot run {binary}: {e}")
            return
    output = (proc.stdout + proc.stderr).strip()
    print(f"  {n} check-config (exit {proc.returncode}): {output}")
    check(
        proc.returncode == 0,
        f"{n} `gtt-gateway check-config` on the rendered config exited {proc.returncode}: {output}",
    )
    listen = dig(case.config, "server", "listen")
    if proc.returncode == 0 and "listening on" in proc.stdout and listen:
        check(str(listen) in proc.stdout, f"{n} check-config reports another listen address than {listen}")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart", required=True, type=Path)
    parser.add_argument("--case", action="append", default=[], metavar="NAME=RENDERED[:VALUES]")
    args = parser.parse_args()

    chart: Path = args.chart
    app_version = str(yaml.safe_load((chart / "Chart.yaml").read_text())["appVersion"])
    if promql_parser is not None:
        try:
            from importlib.metadata import version

            parser_version = version("promql-parser")
        except Exception:  # noqa: BLE001 - only for the message
            parser_version = "?"
        print(f"PromQL: every expression parsed with promql-parser {parser_version} and checked by pattern")
    else:
        print("PromQL: promql-parser not installed; metric names checked by pattern only")

    alert_names = check_alerts_file(chart)
    dashboard_path = chart / "files" / "dashboard.json"
    check_dashboard(str(dashboard_path), dashboard_path.read_text())
    check_schema(chart, alert_names)
    print(f"files: {len(alert_names)} alerts, dashboard, schema checked")

    binary = os.environ.get("GTT_GATEWAY_BIN", "")
    if binary and not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        check(False, f"GTT_GATEWAY_BIN={binary} is not an executable file")
        binary = ""
    for spec in args.case:
        name, _, rest = spec.partition("=")
        rendered, _, values = rest.partition(":")
        case = Case(name, Path(rendered), Path(values) if values else None, chart)
        before = len(failures)
        check_case(case, app_version, alert_names)
        kinds = ", ".join(f"{k} x{len(v)}" if len(v) > 1 else k for k, v in sorted(case.by_kind.items()))
        print(f"[{name}] {len(case.docs)} objects ({kinds}): {'ok' if len(failures) == before else 'FAILED'}")
        if binary:
            run_check_config(case, binary)
    if not binary:
        print("GTT_GATEWAY_BIN not set: skipped `gtt-gateway check-config` on the rendered configs")

    if failures:
        print(f"\n{len(failures)} check(s) FAILED ({passes} passed):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"{passes} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
