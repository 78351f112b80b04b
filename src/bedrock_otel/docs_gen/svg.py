"""Small, dependency-free SVG pictures for the docs: a span tree and horizontal bar-chart panels.

Plain text output with fixed layout rules (no timestamps, ids or fonts embedded), so the same data always
gives the same bytes and a test can tell when a committed picture is stale.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple
from xml.sax.saxutils import escape

FONT = "ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"
KIND_STYLE = {  # fill, stroke, text
    "CLIENT": ("#dbeafe", "#2563eb", "#1e3a8a"),
    "INTERNAL": ("#f3f4f6", "#9ca3af", "#374151"),
    "SERVER": ("#dcfce7", "#16a34a", "#14532d"),
    "PRODUCER": ("#fef3c7", "#d97706", "#78350f"),
    "CONSUMER": ("#fef3c7", "#d97706", "#78350f"),
}
SERIES_COLOURS = ("#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ea580c", "#64748b")


def _text(x: float, y: float, text: str, size: int = 13, weight: str = "normal", fill: str = "#111827",
          anchor: str = "start", family: str = FONT) -> str:
    return (f'<text x="{x:g}" y="{y:g}" font-family="{family}" font-size="{size}" font-weight="{weight}" '
            f'fill="{fill}" text-anchor="{anchor}">{escape(text)}</text>')


def _rect(x: float, y: float, width: float, height: float, fill: str, stroke: str = "none", radius: float = 0) -> str:
    return (f'<rect x="{x:g}" y="{y:g}" width="{max(width, 0):g}" height="{height:g}" rx="{radius:g}" '
            f'fill="{fill}" stroke="{stroke}"/>')


def _document(width: int, height: int, body: List[str], title: str) -> str:
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        _rect(0, 0, width, height, "#ffffff", "#e5e7eb", 6),
        *body,
        "</svg>",
    ]) + "\n"


def _facts(span: Mapping[str, Any]) -> Tuple[str, str]:
    """The right-hand column of a span row, and its colour."""
    facts = span.get("facts", {})
    parts: List[str] = []
    colour = "#374151"
    if "gen_ai.usage.input_tokens" in facts or "gen_ai.usage.output_tokens" in facts:
        parts.append(f"tokens in {facts.get('gen_ai.usage.input_tokens', '-')} / "
                     f"out {facts.get('gen_ai.usage.output_tokens', '-')}")
    if "bedrock_otel.response.document.count" in facts:
        parts.append(f"{facts['bedrock_otel.response.document.count']} passages")
    if "aws.bedrock.agent.execution_type" in facts:
        parts.append(f"execution {facts['aws.bedrock.agent.execution_type']}")
    if "aws.bedrock.guardrail.action" in facts:
        parts.append(f"guardrail {facts['aws.bedrock.guardrail.action']}")
        if facts["aws.bedrock.guardrail.action"] == "INTERVENED":
            colour = "#b91c1c"
    if "error.type" in facts:
        parts.append(f"error {facts['error.type']}")
        colour = "#b91c1c"
    for event in span.get("events", ()):
        parts.append(f"event {event.rsplit('.', 1)[-1]}")
    return "  ·  ".join(parts), colour


def span_tree(spans: Sequence[Mapping[str, Any]], title: str, footer: Sequence[str] = ()) -> str:
    """A trace view: one row per span (depth-first), tree guides, kind badges and key attributes."""
    row, top, left, indent = 30, 56, 20, 22
    name_width = max((left + span["depth"] * indent + 90 + 7.8 * len(span["name"]) for span in spans), default=400)
    facts_x = max(520, int(name_width) + 24)
    facts_width = max((7.0 * len(_facts(span)[0]) for span in spans), default=0)
    width = int(max(facts_x + facts_width + 24, 900))
    height = top + row * len(spans) + 24 + 20 * len(footer)
    body = [_text(left, 30, title, 16, "600")]
    legend_x = width - 20
    for kind in ("INTERNAL", "CLIENT"):
        fill, stroke, ink = KIND_STYLE[kind]
        legend_x -= 80
        body += [_rect(legend_x, 16, 72, 20, fill, stroke, 4), _text(legend_x + 36, 30, kind, 11, "600", ink, "middle")]
    rows_of: Dict[int, int] = {}
    for index, span in enumerate(spans):
        y = top + index * row
        if index % 2:
            body.append(_rect(8, y, width - 16, row, "#f9fafb"))
        depth = span["depth"]
        x = left + depth * indent
        if depth:
            parent_index = max(i for i in range(index) if spans[i]["depth"] == depth - 1)
            rows_of[index] = parent_index
            px = left + (depth - 1) * indent + 8
            py = top + parent_index * row + row - 6
            body.append(f'<path d="M{px:g} {py:g} V{y + row / 2:g} H{x - 2:g}" fill="none" stroke="#9ca3af" '
                        f'stroke-width="1.2"/>')
        fill, stroke, ink = KIND_STYLE.get(span["kind"], KIND_STYLE["INTERNAL"])
        body += [_rect(x, y + 6, 74, row - 12, fill, stroke, 4),
                 _text(x + 37, y + row / 2 + 4, span["kind"], 10, "600", ink, "middle")]
        name_colour = "#b91c1c" if span.get("status") == "ERROR" else "#111827"
        body.append(_text(x + 84, y + row / 2 + 5, span["name"], 13, "normal", name_colour, family=MONO))
        facts, colour = _facts(span)
        if facts:
            body.append(_text(facts_x, y + row / 2 + 5, facts, 12, "normal", colour))
    for number, line in enumerate(footer):
        body.append(_text(left, top + row * len(spans) + 22 + 20 * number, line, 12, "normal", "#374151"))
    return _document(width, height, body, title)


Row = Tuple[str, Sequence[float]]


def bar_panel(title: str, rows: Sequence[Row], series: Sequence[str], unit: str = "", width: int = 900,
              labels: Sequence[str] = (), colours: Sequence[str] = SERIES_COLOURS) -> Tuple[List[str], int]:
    """One horizontal stacked-bar panel at the origin: (SVG elements, height)."""
    label_width = max((7.2 * len(label) for label, _values in rows), default=80) + 24
    chart_x = 20 + label_width
    chart_width = width - chart_x - 120
    total_max = max((sum(values) for _label, values in rows), default=0) or 1
    body = [_text(20, 26, title, 15, "600")]
    legend_x = 20
    for number, name in enumerate(series):
        colour = colours[number % len(colours)]
        body += [_rect(legend_x, 38, 12, 12, colour, "none", 2),
                 _text(legend_x + 18, 49, name, 12, "normal", "#374151")]
        legend_x += 30 + 7 * len(name)
    top, bar = 62, 22
    for index, (label, values) in enumerate(rows):
        y = top + index * (bar + 8)
        body.append(_text(chart_x - 10, y + bar / 2 + 5, label, 12, "normal", "#111827", "end"))
        x = chart_x
        for number, value in enumerate(values):
            if value <= 0:
                continue
            span = chart_width * value / total_max
            colour = colours[number % len(colours)]
            body.append(_rect(x, y, span, bar, colour))
            text = _number(value)
            if span > 8 * len(text) + 6:
                body.append(_text(x + span / 2, y + bar / 2 + 4, text, 11, "600", "#ffffff", "middle"))
            x += span
        total = labels[index] if index < len(labels) else f"{_number(sum(values))}{unit}"
        body.append(_text(x + 8, y + bar / 2 + 5, total, 12, "600", "#111827"))
    return body, top + len(rows) * (bar + 8) + 6


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and not float(value).is_integer() else f"{int(value):,}"


def panels(title: str, parts: Sequence[Tuple[List[str], int]], width: int = 900, note: str = "") -> str:
    """Stack panels vertically into one SVG document."""
    body: List[str] = []
    y = 0
    for elements, height in parts:
        body.append(f'<g transform="translate(0 {y})">')
        body += elements
        body.append("</g>")
        y += height + 10
    if note:
        body.append(_text(20, y + 12, note, 11, "normal", "#6b7280"))
        y += 24
    return _document(width, y + 4, body, title)
