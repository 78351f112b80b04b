"""examples/prometheus: the PromQL of queries.yaml against a live Prometheus, the alert rule, the CloudWatch alarm.

Two workload processes ("pods" in namespaces shop and support) export bedrock-otel metrics through the
OpenTelemetry Prometheus exporter; a real ``prometheus`` (Debian package) scrapes them every second. The
numbers Prometheus answers are compared with what the Bedrock calls consumed according to the responses
the workloads received. Skips only when ``prometheus``/``promtool`` are missing and cannot be installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import boto3
import pytest
import yaml
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "prometheus"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "dashboards.md"
WINDOW_SECONDS = 300  # the [5m] of the dashboard forms


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_prometheus_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack = _load("stack")
QUERIES = stack.load_queries()
ALERT = yaml.safe_load((EXAMPLE / "alerts.yml").read_text())["groups"][0]["rules"][0]


@pytest.fixture(scope="module")
def binaries() -> Dict[str, str]:
    found = stack.binaries()
    if found is None:
        output = stack.install()
        found = stack.binaries()
        if found is None:
            pytest.skip("the prometheus/promtool binaries are missing and .ci/install-system-deps could not "
                        f"install them (Debian package `prometheus`): {output[-400:]}")
    return found


# -- expectations from the workloads' reports -----------------------------------------------------


def _merge(reports: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Expected values of every `total` query, from what the Bedrock responses said."""
    tokens: Dict[Tuple[str, ...], float] = defaultdict(float)
    calls: Dict[Tuple[str, ...], float] = defaultdict(float)
    streams: Dict[str, float] = defaultdict(float)
    histograms: Dict[str, Dict[str, Dict[str, Any]]] = {"duration": {}, "ttft": {}}
    for report in reports:
        ns, deployment = report["resource"]["k8s.namespace.name"], report["resource"]["k8s.deployment.name"]
        for t in report["tokens"]:
            tokens[(ns, deployment, t["model"], t["tenant"], t["type"])] += t["tokens"]
        for c in report["calls"]:
            calls[(ns, c["model"], c["tenant"], c["error_type"])] += c["count"]
        for model, count in report["streams"].items():
            streams[model] += count
        for kind, per_model in report["histograms"].items():
            for model, hist in per_model.items():
                entry = histograms[kind].setdefault(model, {"bounds": hist["bounds"],
                                                            "counts": [0] * len(hist["counts"])})
                entry["counts"] = [a + b for a, b in zip(entry["counts"], hist["counts"])]

    def group(source: Dict[Tuple[str, ...], float], key: Any, where: Any = lambda k: True) -> Dict[Tuple, float]:
        out: Dict[Tuple, float] = defaultdict(float)
        for k, v in source.items():
            if where(k):
                out[key(k)] += v
        return dict(out)

    calls_by_ns = group(calls, lambda k: (k[0],))
    errors_by_ns = group(calls, lambda k: (k[0],), lambda k: k[3] != "")
    return {
        "tokens_by_model_namespace": group(tokens, lambda k: (k[0], k[2], k[4])),
        "tokens_by_tenant": group(tokens, lambda k: (k[3], k[4])),
        "tokens_by_model_workload_namespace_tenant": dict(tokens),
        "calls_by_model": group(calls, lambda k: (k[1],)),
        "errors_by_namespace_type": group(calls, lambda k: (k[0], k[3]), lambda k: k[3] != ""),
        "error_ratio_by_namespace": {key: errors_by_ns.get(key, 0.0) / n for key, n in calls_by_ns.items()},
        "errors_by_namespace": errors_by_ns,
        "streams": {(m,): n for m, n in streams.items()},
        "histograms": histograms,
    }


# Label keys of each query's result, in the order of the expectation tuples above.
KEYS = {
    "tokens_by_model_namespace": ("k8s_namespace_name", "gen_ai_request_model", "gen_ai_token_type"),
    "tokens_by_tenant": ("tenant_id", "gen_ai_token_type"),
    "tokens_by_model_workload_namespace_tenant": ("k8s_namespace_name", "k8s_deployment_name",
                                                  "gen_ai_request_model", "tenant_id", "gen_ai_token_type"),
    "calls_by_model": ("gen_ai_request_model",),
    "errors_by_namespace_type": ("k8s_namespace_name", "error_type"),
    "error_ratio_by_namespace": ("k8s_namespace_name",),
    "latency_p95_by_model": ("gen_ai_request_model",),
    "ttft_p95_by_model": ("gen_ai_request_model",),
}


def _by_labels(result: Sequence[Tuple[Dict[str, str], float]], keys: Sequence[str]) -> Dict[Tuple[str, ...], float]:
    out: Dict[Tuple[str, ...], float] = {}
    for labels, value in result:
        key = tuple(labels.get(k, "") for k in keys)
        assert key not in out, f"duplicate series {key} in {result}"
        out[key] = value
    return out


def _p95(histogram: Dict[str, Any]) -> float:
    return stack.histogram_quantile(0.95, histogram["bounds"], histogram["counts"])


def _nonempty_range(histogram: Dict[str, Any]) -> Tuple[float, float]:
    bounds, counts = histogram["bounds"], histogram["counts"]
    uppers = [*bounds, math.inf]
    used = [i for i, c in enumerate(counts) if c]
    return (0.0 if used[0] == 0 else uppers[used[0] - 1]), uppers[used[-1]]


def _total_tokens(reports: Iterable[Dict[str, Any]]) -> float:
    return float(sum(t["tokens"] for r in reports for t in r["tokens"]))


def _run_wave(prometheus: Any, workloads: List[Any], wave: int, already: float) -> List[Dict[str, Any]]:
    for workload in workloads:
        workload.start_wave(stack.DEMO_ERRORS[workload.namespace][wave])
    reports = [w.wave_report() for w in workloads]
    expected = _total_tokens(reports)
    assert expected > already
    calls = float(sum(c["count"] for r in reports for c in r["calls"]))

    def scraped() -> bool:
        # Tokens and calls both: failed calls record a duration but no tokens, and may land in a later
        # scrape than the last successful call of the wave.
        tokens = prometheus.query("sum(gen_ai_client_token_usage_sum)")
        counted = prometheus.query("sum(gen_ai_client_operation_duration_seconds_count)")
        return bool(tokens) and tokens[0][1] == expected and bool(counted) and counted[0][1] == calls

    stack.wait_until(scraped, 20, what=f"Prometheus to scrape wave {wave + 1} ({expected} tokens)")
    return reports


# -- the live test --------------------------------------------------------------------------------


def test_promql_against_live_prometheus(binaries, tmp_path):
    workloads = [stack.WorkloadProcess(**spec) for spec in stack.DEMO_WORKLOADS]
    try:
        targets = [f"127.0.0.1:{w.wait_ready()}" for w in workloads]
        with stack.Prometheus(binaries["prometheus"], targets, tmp_path) as prometheus:
            stack.wait_until(lambda: prometheus.targets_up() == 2, 20, what="both scrape targets up")
            first = _run_wave(prometheus, workloads, 0, 0.0)
            assert prometheus.query(ALERT["expr"]) == [], "fewer than 5 errors per workload after wave 1"
            second = _run_wave(prometheus, workloads, 1, _total_tokens(first))
            _check_resource_join(prometheus)
            _check_totals(prometheus, _merge(second))
            _check_dashboards(prometheus, _merge(first), _merge(second))
            _check_alert(prometheus, _merge(second))
    finally:
        for workload in workloads:
            workload.stop()


def _check_resource_join(prometheus: Any) -> None:
    """This exporter version: resource attributes on target_info only, joined on job and instance."""
    info = prometheus.query('target_info{job="bedrock-apps"}')
    assert sorted((i["k8s_namespace_name"], i["k8s_deployment_name"], i["k8s_pod_name"], i["service_name"])
                  for i, _ in info) == sorted(
        (w["namespace"], w["deployment"], w["pod"], w["deployment"]) for w in stack.DEMO_WORKLOADS)
    assert prometheus.query('count(gen_ai_client_token_usage_sum{k8s_namespace_name!=""})') == []
    assert prometheus.query('count(gen_ai_client_token_usage_sum{service_name!=""})') == []


def _check_totals(prometheus: Any, expected: Dict[str, Any]) -> None:
    for name in ("tokens_by_model_namespace", "tokens_by_tenant", "tokens_by_model_workload_namespace_tenant",
                 "calls_by_model", "errors_by_namespace_type"):
        got = _by_labels(prometheus.query(QUERIES[name]["total"]), KEYS[name])
        assert got == expected[name], f"{name}: Prometheus {got} != consumed {expected[name]}"
    ratio = _by_labels(prometheus.query(QUERIES["error_ratio_by_namespace"]["total"]), KEYS["error_ratio_by_namespace"])
    assert ratio.keys() == expected["error_ratio_by_namespace"].keys()
    for key, value in ratio.items():
        assert value == pytest.approx(expected["error_ratio_by_namespace"][key], rel=1e-12), key
    # Streams: one time-to-first-chunk observation each.
    ttft_counts = _by_labels(prometheus.query(
        "sum by (gen_ai_request_model) (gen_ai_client_operation_time_to_first_chunk_seconds_count)"),
        ("gen_ai_request_model",))
    assert ttft_counts == expected["streams"]
    # Quantiles: Prometheus's histogram_quantile over the buckets the workloads recorded.
    for name, kind in (("latency_p95_by_model", "duration"), ("ttft_p95_by_model", "ttft")):
        got = _by_labels(prometheus.query(QUERIES[name]["total"]), KEYS[name])
        histograms = expected["histograms"][kind]
        assert got.keys() == {(m,) for m in histograms}, name
        for (model,), value in got.items():
            assert value == pytest.approx(_p95(histograms[model]), rel=1e-9), (name, model)
            low, high = _nonempty_range(histograms[model])
            assert low < value <= high


def _check_dashboards(prometheus: Any, before: Dict[str, Any], after: Dict[str, Any]) -> None:
    """The rate forms see the same series, and at least wave 2's traffic (rate * 300 s >= its increase)."""
    for name in ("tokens_by_model_namespace", "tokens_by_tenant", "tokens_by_model_workload_namespace_tenant",
                 "calls_by_model", "errors_by_namespace_type"):
        got = _by_labels(prometheus.query(QUERIES[name]["dashboard"]), KEYS[name])
        assert got.keys() == after[name].keys(), name
        for key, rate in got.items():
            delta = after[name][key] - before[name].get(key, 0.0)
            assert delta <= rate * WINDOW_SECONDS + 1e-6, (name, key, rate, delta)
            assert rate * WINDOW_SECONDS <= 2 * after[name][key] + 1e-6, (name, key, rate)
    ratio = _by_labels(prometheus.query(QUERIES["error_ratio_by_namespace"]["dashboard"]),
                       KEYS["error_ratio_by_namespace"])
    assert ratio.keys() == after["error_ratio_by_namespace"].keys() and all(0 < v < 1 for v in ratio.values())
    for name, kind in (("latency_p95_by_model", "duration"), ("ttft_p95_by_model", "ttft")):
        got = _by_labels(prometheus.query(QUERIES[name]["dashboard"]), KEYS[name])
        assert got.keys() == {(m,) for m in after["histograms"][kind]}, name
        for (model,), value in got.items():
            low, high = _nonempty_range(after["histograms"][kind][model])
            assert low <= value <= high, (name, model, value, low, high)


def _check_alert(prometheus: Any, expected: Dict[str, Any]) -> None:
    noisy = {ns for (ns,), n in expected["errors_by_namespace"].items() if n >= 5}
    assert noisy == {"shop"}, expected["errors_by_namespace"]  # the demo's errors: 7 in shop, 2 in support
    got = _by_labels(prometheus.query(ALERT["expr"]), ("k8s_namespace_name", "service_name"))
    assert got == {("shop", "checkout-assistant"): expected["errors_by_namespace"][("shop",)]}

    def firing() -> List[Dict[str, Any]]:
        return [a for a in prometheus.alerts() if a["state"] == "firing"]

    alerts = stack.wait_until(firing, 10, what="BedrockErrorsHigh to fire")
    assert [(a["labels"]["alertname"], a["labels"]["k8s_namespace_name"], a["labels"]["severity"])
            for a in alerts] == [("BedrockErrorsHigh", "shop", "page")]
    assert alerts[0]["annotations"]["description"].startswith("7 failed Bedrock calls in the last 5 minutes")


# -- promtool: the rules and the generated configuration ------------------------------------------


def test_alert_rules_pass_promtool_check_and_unit_tests(binaries):
    check = subprocess.run([binaries["promtool"], "check", "rules", "alerts.yml"], cwd=EXAMPLE,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 1 rules found" in check.stdout
    unit = subprocess.run([binaries["promtool"], "test", "rules", "alerts_test.yml"], cwd=EXAMPLE,
                          capture_output=True, text=True, timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout


def test_generated_prometheus_config_passes_promtool(binaries, tmp_path):
    config = stack.Prometheus(binaries["prometheus"], ["127.0.0.1:9464"], tmp_path).config_path
    result = subprocess.run([binaries["promtool"], "check", "config", str(config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the same alarm for CloudWatch ----------------------------------------------------------------


def test_cloudwatch_alarm_has_the_put_metric_alarm_shape_and_matches_the_rule():
    alarm = json.loads((EXAMPLE / "cloudwatch" / "bedrock-errors-alarm.json").read_text())
    shape = boto3.session.Session(region_name="us-east-1").client("cloudwatch").meta.service_model \
        .operation_model("PutMetricAlarm").input_shape
    validate_parameters(alarm, shape)  # raises ParamValidationError on any unknown key or wrong type
    with pytest.raises(ParamValidationError):
        validate_parameters({**alarm, "Period": "300"}, shape)

    # Same rule as alerts.yml: >= 5 errors over 5 minutes, per namespace and service.
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (5, "GreaterThanOrEqualToThreshold")
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    [query] = alarm["Metrics"]
    assert query["Period"] == WINDOW_SECONDS and query["ReturnData"] is True
    assert re.search(r"\)\s*>=\s*5\s*$", ALERT["expr"]) and "[5m]" in ALERT["expr"] and "offset 5m" in ALERT["expr"]
    assert "by (k8s_namespace_name, service_name)" in ALERT["expr"]

    # The Metrics Insights query reads what the EMF collector config publishes.
    match = re.fullmatch(r'SELECT COUNT\("(?P<metric>[^"]+)"\) FROM SCHEMA\("(?P<ns>[^"]+)", (?P<dims>.+?)\)'
                         r' GROUP BY (?P<group>.+)', query["Expression"])
    assert match, query["Expression"]
    dims = re.findall(r'"([^"]+)"', match["dims"])
    assert match["metric"] == "gen_ai.client.operation.duration"
    assert re.findall(r'"([^"]+)"', match["group"]) == ["k8s.namespace.name", "service.name"]
    collector = yaml.safe_load((EXAMPLE / "cloudwatch" / "otel-collector-emf.yaml").read_text())
    emf = collector["exporters"]["awsemf"]
    assert emf["namespace"] == match["ns"]
    assert emf["resource_to_telemetry_conversion"]["enabled"] is True  # service.name, k8s.* become dimensions
    declared = [sorted(d) for decl in emf["metric_declarations"]
                if any(re.search(sel, match["metric"]) for sel in decl["metric_name_selectors"])
                for d in decl["dimensions"]]
    assert sorted(dims) in declared and "error.type" in dims
    assert collector["service"]["pipelines"]["metrics"]["exporters"] == ["awsemf"]


def test_cloudwatch_alarm_round_trips_through_the_cloudwatch_api():
    from moto import mock_aws

    alarm = json.loads((EXAMPLE / "cloudwatch" / "bedrock-errors-alarm.json").read_text())
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        cloudwatch.put_metric_alarm(**alarm)
        [stored] = cloudwatch.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"]
    assert stored["Metrics"][0]["Expression"] == alarm["Metrics"][0]["Expression"]
    assert stored["Threshold"] == 5.0


# -- the docs show the same PromQL ----------------------------------------------------------------


def test_docs_show_the_queries_and_the_alert_verbatim():
    docs = DOCS.read_text()
    for name, query in QUERIES.items():
        assert query["dashboard"] in docs, f"docs/dashboards.md lacks the dashboard form of {name}"
    assert ALERT["expr"] in docs, "docs/dashboards.md lacks the alert expression"
    assert json.loads((EXAMPLE / "cloudwatch" / "bedrock-errors-alarm.json").read_text())["Metrics"][0][
        "Expression"].replace('\\"', '"') in docs.replace('\\"', '"')


def test_run_local_command(binaries):
    result = subprocess.run([sys.executable, str(EXAMPLE / "run_local.py")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "alerts firing:\n  BedrockErrorsHigh shop/checkout-assistant: 7 failed" in result.stdout
