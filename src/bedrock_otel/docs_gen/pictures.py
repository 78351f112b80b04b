"""The pictures: the agent example's trace tree and the Prometheus example's dashboard, from the reference run.

Every number drawn comes from a real run (token counts as the fake Bedrock accounted them, call and error
counts as the workload reported them). ``dashboard-latency.svg`` shows measured latencies, which differ from
run to run; it is regenerated with the others but not compared by the freshness test.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from . import svg

TRACE = "img/trace-agent-app.svg"
DASHBOARD = "img/dashboard.svg"
LATENCY = "img/dashboard-latency.svg"
OUTCOME_COLOURS = ("#16a34a", "#dc2626", "#ea580c", "#9333ea", "#be185d")  # ok, then each error type
#: pictures whose bytes depend on timing: regenerated, never compared
TIMING_DEPENDENT = (LATENCY,)


def trace_svg(agent_app: Mapping[str, Any]) -> str:
    footer = [f"gen_ai.client.token.usage — {model}: input {tokens.get('input', 0)}, output {tokens.get('output', 0)}"
              for model, tokens in sorted(agent_app["tokens"].items())]
    return svg.span_tree(agent_app["spans"], "examples/agent-app: two questions, two traces", footer)


def _short(model: str) -> str:
    return model.split(".", 1)[-1].split("-v", 1)[0] if "." in model else model


def _namespace(report: Mapping[str, Any]) -> str:
    resource = report["resource"]
    return f"{resource['k8s.namespace.name']}/{resource['k8s.deployment.name']}"


def dashboard_svg(reports: Sequence[Mapping[str, Any]]) -> str:
    kinds = ("input", "output")
    by_model: Dict[Tuple[str, str], Dict[str, int]] = defaultdict(lambda: dict.fromkeys(kinds, 0))
    by_tenant: Dict[str, Dict[str, int]] = defaultdict(lambda: dict.fromkeys(kinds, 0))
    calls: Dict[Tuple[str, str], Dict[str, int]] = defaultdict(dict)
    errors = sorted({entry["error_type"] for report in reports for entry in report["calls"] if entry["error_type"]})
    for report in reports:
        workload = _namespace(report)
        for entry in report["tokens"]:
            by_model[(workload, entry["model"])][entry["type"]] += entry["tokens"]
            by_tenant[entry["tenant"]][entry["type"]] += entry["tokens"]
        for entry in report["calls"]:
            cell = calls[(workload, entry["model"])]
            outcome = entry["error_type"] or "ok"
            cell[outcome] = cell.get(outcome, 0) + entry["count"]
    token_rows = [(f"{workload} · {_short(model)}", [counts[k] for k in kinds])
                  for (workload, model), counts in sorted(by_model.items())]
    tenant_rows = [(tenant, [counts[k] for k in kinds]) for tenant, counts in sorted(by_tenant.items())]
    outcomes = ["ok", *errors]
    call_rows = [(f"{workload} · {_short(model)}", [cell.get(o, 0) for o in outcomes])
                 for (workload, model), cell in sorted(calls.items())]
    ratio_rows: List[Tuple[str, List[float]]] = []
    ratio_labels: List[str] = []
    for report in reports:
        failed = sum(entry["count"] for entry in report["calls"] if entry["error_type"])
        total = sum(entry["count"] for entry in report["calls"])
        ratio_rows.append((_namespace(report), [round(100.0 * failed / total, 1) if total else 0.0]))
        ratio_labels.append(f"{100.0 * failed / total:.1f}% ({failed}/{total})" if total else "—")
    parts = [
        svg.bar_panel("Tokens by model and workload (tokens_by_model_namespace)", token_rows, kinds),
        svg.bar_panel("Tokens by tenant (tokens_by_tenant)", tenant_rows, kinds),
        svg.bar_panel("Bedrock calls by workload, model and outcome (calls_by_model, errors_by_namespace_type)",
                      call_rows, outcomes, colours=OUTCOME_COLOURS),
        svg.bar_panel("Error ratio by workload (error_ratio_by_namespace)", ratio_rows, ["failed calls, %"],
                      labels=ratio_labels, colours=("#dc2626",)),
    ]
    return svg.panels("Bedrock dashboard: examples/prometheus workloads after two waves", parts,
                      note="Totals since start, as the queries' total forms return them; from an in-process run of "
                           "examples/prometheus/workload.py.")


def latency_svg(reports: Sequence[Mapping[str, Any]]) -> str:
    merged: Dict[Tuple[str, str], List[int]] = {}
    bounds: Optional[List[float]] = None
    for report in reports:
        for metric, title in (("duration", "duration"), ("ttft", "time to first chunk")):
            for model, entry in report["histograms"].get(metric, {}).items():
                bounds = entry["bounds"]
                key = (title, model)
                counts = merged.setdefault(key, [0] * len(entry["counts"]))
                merged[key] = [a + b for a, b in zip(counts, entry["counts"])]
    if bounds is None:
        return svg.panels("Bedrock latency", [])
    used = sorted({i for counts in merged.values() for i, count in enumerate(counts) if count})
    edges = [0.0, *bounds]
    names = [f"{_ms(edges[i])}\u2013{_ms(edges[i + 1])}" if i < len(bounds) else f"> {_ms(bounds[-1])}" for i in used]
    rows = [(f"{title} · {_short(model)}", [counts[i] for i in used])
            for (title, model), counts in sorted(merged.items())]
    labels = [f"p95 ≤ {_ms(_p95_bound(counts, bounds))}" for (_title, _model), counts in sorted(merged.items())]
    part = svg.bar_panel("Calls per latency bucket (latency_p95_by_model, ttft_p95_by_model)", rows, names,
                         labels=labels)
    return svg.panels("Bedrock latency: examples/prometheus workloads", [part],
                      note="Measured on the build machine against the fake Bedrock (30 ms latency); bucket "
                           "boundaries are bedrock-otel's.")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _p95_bound(counts: Sequence[int], bounds: Sequence[float]) -> float:
    total = sum(counts)
    running = 0
    for index, count in enumerate(counts):
        running += count
        if total and running >= 0.95 * total:
            return bounds[index] if index < len(bounds) else float("inf")
    return bounds[-1]


def render(observation: Mapping[str, Any]) -> Dict[str, str]:
    """docs-relative path → SVG text (the dashboard ones only when the workload could run)."""
    pictures = {TRACE: trace_svg(observation["agent_app"])}
    dashboard = observation["dashboard"]
    if "reports" in dashboard:
        pictures[DASHBOARD] = dashboard_svg(dashboard["reports"])
        pictures[LATENCY] = latency_svg(dashboard["reports"])
    return pictures
