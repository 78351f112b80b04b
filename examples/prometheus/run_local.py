"""Run the Prometheus example offline: two workload "pods", a real Prometheus scraping them, the PromQL.

    python examples/prometheus/run_local.py

Starts two workloads (namespaces ``shop`` and ``support``, each with its own fake Bedrock and /metrics on a
loopback port), a ``prometheus`` server scraping them every second with alerts.yml loaded, drives two
waves of Bedrock calls, then prints every query of queries.yaml (total form) and the alerts that fire.
Needs the ``prometheus`` binary (Debian: ``apt-get install prometheus``, or ``.ci/install-system-deps``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack


def total_tokens(reports: List[Dict]) -> int:
    return sum(entry["tokens"] for report in reports for entry in report["tokens"])


def _scalar(prometheus: Any, query: str) -> float:
    result = prometheus.query(query)
    return result[0][1] if result else 0.0


def main() -> int:
    found = stack.binaries()
    if found is None:
        print("prometheus/promtool not found: install the Debian package (apt-get install prometheus, or "
              "bash .ci/install-system-deps) or set PROMETHEUS_BIN and PROMTOOL_BIN", file=sys.stderr)
        return 2
    workloads = [stack.WorkloadProcess(**spec) for spec in stack.DEMO_WORKLOADS]
    try:
        targets = [f"127.0.0.1:{w.wait_ready()}" for w in workloads]
        with tempfile.TemporaryDirectory(prefix="bedrock-otel-prometheus-") as workdir, \
                stack.Prometheus(found["prometheus"], targets, Path(workdir)) as prometheus:
            print(f"prometheus {prometheus.url} scraping {targets} every 1s\n")
            stack.wait_until(lambda: prometheus.targets_up() == len(targets), 20, what="both targets up")
            reports: List[Dict] = []
            for wave in range(2):
                for workload in workloads:
                    workload.start_wave(stack.DEMO_ERRORS[workload.namespace][wave])
                reports = [w.wave_report() for w in workloads]
                expected = total_tokens(reports)
                calls = sum(entry["count"] for report in reports for entry in report["calls"])
                # Tokens and calls both: failed calls record no tokens and may land in a later scrape.
                stack.wait_until(
                    lambda expected=expected, calls=calls: _scalar(prometheus, "sum(gen_ai_client_token_usage_sum)")
                    == expected and _scalar(prometheus, "sum(gen_ai_client_operation_duration_seconds_count)")
                    == calls, 20, what=f"Prometheus to scrape {expected} tokens and {calls} calls")
                print(f"wave {wave + 1}: {expected} tokens so far, scraped")
            for name, query in stack.load_queries().items():
                print(f"\n{query['title']}  [{name}, total]")
                for labels, value in sorted(prometheus.query(query["total"]), key=lambda r: sorted(r[0].items())):
                    print(f"  {value:>10.4g}  {labels}")
            errors: Dict[str, int] = {}
            for report in reports:
                namespace = report["resource"]["k8s.namespace.name"]
                errors[namespace] = errors.get(namespace, 0) + sum(
                    entry["count"] for entry in report["calls"] if entry["error_type"])

            def settled() -> List[Dict]:
                """Firing alerts, once the rule has evaluated over every failed call (not an earlier scrape)."""
                firing = [a for a in prometheus.alerts() if a["state"] == "firing"]
                done = all(f"{errors.get(a['labels']['k8s_namespace_name'], 0)} failed"
                           in a["annotations"]["description"] for a in firing)
                return firing if firing and done else []

            firing = stack.wait_until(settled, 20, what="the BedrockErrorsHigh alert")
            print("\nalerts firing:")
            for alert in firing:
                print(f"  {alert['labels']['alertname']} {alert['labels']['k8s_namespace_name']}/"
                      f"{alert['labels']['service_name']}: {alert['annotations']['description']}")
    finally:
        for workload in workloads:
            workload.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
