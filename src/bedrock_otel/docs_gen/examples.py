"""docs/examples/*.md: one page per example, made from its README, with its files and a picture.

The README stays the source (it is what people read on the repository); this copies it into the site with
its links rewritten — links to docs/ become links to the site's pages, links to the example's own files
point at the file's listing further down the page — adds a diagram or picture where one helps, and appends
every file of the example, collapsed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Tuple

from . import pictures

#: example directory → (navigation title, picture or diagram inserted after the README's first paragraph)
EXAMPLES: Dict[str, Tuple[str, str]] = {
    "eks-sidecar": ("EKS sidecar", "sidecar-eks"),
    "ecs-sidecar": ("ECS sidecar", "sidecar-ecs"),
    "lambda": ("Lambda", "lambda"),
    "multi-region-failover": ("Multi-region failover", ""),
    "prometheus": ("Prometheus dashboards and alerts", "dashboard"),
    "chatops-lambda": ("ChatOps Lambda", ""),
    "agent-app": ("Agent app", "trace"),
}

DIAGRAMS: Dict[str, str] = {
    "sidecar-eks": """\
```mermaid
flowchart LR
  caller([caller]) -->|POST /chat| chatbot
  subgraph pod["Pod on EKS"]
    chatbot["chatbot :8080<br/>instrumented by the operator's injection"]
    ragapi["ragapi :8081 (sidecar)<br/>bedrock_otel.configure()"]
    chatbot -->|"POST /ask<br/>traceparent + X-Amzn-Trace-Id"| ragapi
  end
  ragapi -->|"Converse: one CLIENT span<br/>tokens, model, aws.remote.*"| bedrock[("Amazon Bedrock")]
  chatbot -.->|"OTLP/HTTP :4316<br/>spans, Latency/Error/Fault"| agent["CloudWatch agent"]
  ragapi -.->|"OTLP/HTTP :4316<br/>OTEL_AWS_APPLICATION_SIGNALS_ENABLED=true"| agent
  agent --> signals["X-Ray and Application Signals:<br/>chatbot → ragapi → AWS::BedrockRuntime"]
```
""",
    "sidecar-ecs": """\
```mermaid
flowchart LR
  caller([caller]) -->|POST /ask| assistant
  subgraph task["ECS task (awsvpc)"]
    assistant["assistant container<br/>bedrock_otel.configure()"]
    cwagent["ecs-cwagent sidecar<br/>(CloudWatch agent)"]
    assistant -.->|"OTLP/HTTP localhost:4316<br/>spans, Latency/Error/Fault"| cwagent
  end
  assistant -->|"Converse: one CLIENT span"| bedrock[("Amazon Bedrock")]
  metadata["task metadata endpoint"] -.->|"aws.ecs.* resource"| assistant
  cwagent --> signals["X-Ray and Application Signals"]
```
""",
    "lambda": """\
```mermaid
sequenceDiagram
  participant R as Lambda runtime
  participant H as handler (@lambda_handler)
  participant B as Amazon Bedrock
  participant C as ADOT layer collector
  R->>H: invoke, with _X_AMZN_TRACE_ID (Root, Parent, Sampled)
  H->>H: SERVER span, child of Lambda's segment
  H->>B: Converse (CLIENT span: model, tokens)
  B-->>H: answer
  H->>C: force_flush(timeout=flush_timeout)
  H-->>R: return value
  Note over R,C: only now may Lambda freeze the environment
```
""",
}

_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
_TEXT_SUFFIXES = {".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini", ".sh", ""}
_LANGUAGES = {".py": "python", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".sh": "bash", "": "dockerfile"}


def _anchor(relative: str) -> str:
    return "src-" + re.sub(r"[^a-z0-9]+", "-", relative.lower()).strip("-")


def example_files(directory: Path) -> List[str]:
    """The example's text files (relative paths), README first excluded, in a stable order."""
    files = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.name == "README.md":
            continue
        if path.suffix not in _TEXT_SUFFIXES or (path.suffix == "" and path.name != "Dockerfile"):
            continue
        files.append(path.relative_to(directory).as_posix())
    return sorted(files, key=lambda name: (name.count("/"), name))


def _rewrite(text: str, directory: Path, repo: Path, files: List[str]) -> str:
    docs = repo / "docs"

    def replace(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z]+://", target) or target.startswith(("#", "mailto:")):
            return match.group(0)
        path_part, _, fragment = target.partition("#")
        resolved = Path(os.path.normpath(directory / path_part))
        if resolved.suffix == ".md" and docs in resolved.parents:
            relative = Path(os.path.relpath(resolved, docs / "examples")).as_posix()
            return f"[{label}]({relative}{'#' + fragment if fragment else ''})"
        if directory in resolved.parents or resolved == directory:
            relative = resolved.relative_to(directory).as_posix() if resolved != directory else ""
            if relative in files:
                return f"[{label}](#{_anchor(relative)})"
        examples = repo / "examples"
        if examples in resolved.parents and resolved.parent == examples and resolved.name in EXAMPLES:
            return f"[{label}]({resolved.name}.md)"
        return label  # a file the site does not carry: keep the words, drop the link

    return _LINK.sub(replace, text)


def _extra(kind: str) -> str:
    if kind in DIAGRAMS:
        return DIAGRAMS[kind]
    if kind == "trace":
        return (f"![The trace tree of the agent example](../{pictures.TRACE})\n\n"
                "*The two traces of the run below, drawn from the spans bedrock-otel emitted in a real run of this "
                "example (regenerated by `python -m bedrock_otel.docs_gen`).*\n")
    if kind == "dashboard":
        return (f"![Dashboard panels from the example's workloads](../{pictures.DASHBOARD})\n\n"
                f"![Latency buckets from the same run](../{pictures.LATENCY})\n\n"
                "*The panels the queries below draw, rendered from an in-process run of `workload.py` with the "
                "same two workloads, waves and scripted errors as the live test (regenerated by "
                "`python -m bedrock_otel.docs_gen`). Queries and alert: [Dashboards and alerts](../dashboards.md).*\n")
    return ""


def _insert_after_intro(text: str, extra: str) -> str:
    if not extra:
        return text
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("# ")), -1) + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    end = start
    while end < len(lines) and lines[end].strip():
        end += 1
    return "\n".join([*lines[:end], "", extra.rstrip("\n"), *lines[end:]])


def render_example(name: str, repo: Path) -> str:
    directory = repo / "examples" / name
    readme = (directory / "README.md").read_text(encoding="utf-8")
    files = example_files(directory)
    text = _rewrite(readme, directory, repo, files)
    text = _insert_after_intro(text, _extra(EXAMPLES[name][1]))
    header = (f"<!-- Generated by `python -m bedrock_otel.docs_gen` from examples/{name}/README.md and the example's "
              "files; edit those, not this page. -->\n\n")
    lines = [header + text.rstrip("\n"), "", "## Files", "",
             f"Everything in `examples/{name}/` (run it from the repository root after the README's set-up).", ""]
    for relative in files:
        path = directory / relative
        source = path.read_text(encoding="utf-8").rstrip("\n")
        language = _LANGUAGES.get(path.suffix, "text")
        fence = "````" if "```" in source else "```"
        lines += [f"### `{relative}` {{ #{_anchor(relative)} }}", "",
                  f'??? example "{relative} ({len(source.splitlines())} lines)"', "",
                  f"    {fence}{language}"]
        lines += [f"    {line}" if line else "" for line in source.split("\n")]
        lines += [f"    {fence}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render(repo: Path) -> Dict[str, str]:
    """docs-relative path → page text, for every example in :data:`EXAMPLES` and their index."""
    pages = {"examples/index.md": index(repo)}
    pages.update({f"examples/{name}.md": render_example(name, repo) for name in EXAMPLES})
    return pages


def index(repo: Path) -> str:
    """docs/examples/index.md: the examples, each with its README's title and run command."""
    lines = ["# Examples", "",
             "<!-- Generated by `python -m bedrock_otel.docs_gen` from the examples' READMEs; do not edit. -->", "",
             "Each example is a small, runnable application in `examples/`, checked by its own test in `tests/`. "
             "All of them run offline against the fake Bedrock; none needs an AWS account.", "",
             "| example | what it is | run it |", "|---|---|---|"]
    for name, (title, _extra_kind) in EXAMPLES.items():
        readme = (repo / "examples" / name / "README.md").read_text(encoding="utf-8")
        heading = next((line[2:].strip() for line in readme.splitlines() if line.startswith("# ")), name)
        command = re.search(r"```bash\n(.+?)\n", readme)
        run = f"`{command.group(1).split('  #', 1)[0].strip()}`" if command else ""
        lines.append(f"| [{title}]({name}.md) | {heading} | {run} |")
    return "\n".join(lines) + "\n"
