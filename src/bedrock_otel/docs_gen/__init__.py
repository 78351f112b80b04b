"""The generated parts of the documentation site, and the command that writes or checks them.

    python -m bedrock_otel.docs_gen            # from the repository root: rewrite every generated file
    python -m bedrock_otel.docs_gen --check    # exit 1, listing them, if any is stale
    python -m bedrock_otel.docs_gen --refresh-timing   # also redraw the latency picture (it differs every run)

Generated (everything else under docs/ is written by hand):

* ``docs/reference/telemetry.md`` — spans, attributes, metrics, events (:mod:`.telemetry_ref`);
* ``docs/reference/configuration.md`` — ``configure()``/``instrument()`` settings and variables
  (:mod:`.config_ref`);
* ``docs/families.md`` — the model families (:mod:`bedrock_otel.models.catalog`, also runnable alone);
* ``docs/examples/*.md`` — one page per example, from its README and files (:mod:`.examples`);
* ``docs/img/*.svg`` — the agent example's trace tree and the Prometheus example's dashboard
  (:mod:`.pictures`).

The telemetry page and the pictures come from a reference run of real boto3 calls against the fake Bedrock
(:mod:`.reference_run`), made in a child process so that global OpenTelemetry state starts clean; it takes
a few seconds. ``docs/benchmarks.md`` is generated too, but by ``python -m benchmarks`` (minutes), and is not
checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["check", "main", "render_all", "repository_root", "stale", "write"]

#: files rendered here whose bytes depend on timing: rewritten by ``write`` but never reported stale
TIMING_DEPENDENT = ("docs/img/dashboard-latency.svg",)


def repository_root(start: Optional[Path] = None) -> Path:
    """The checkout this module runs from (the directory holding docs/ and examples/)."""
    candidates = [start] if start is not None else [Path.cwd(), Path(__file__).resolve().parents[3]]
    for candidate in candidates:
        if candidate is not None and (candidate / "docs").is_dir() and (candidate / "examples").is_dir():
            return candidate.resolve()
    raise FileNotFoundError("run from the repository root (the directory with docs/ and examples/)")


def reference_observation(repo: Path, timeout: float = 300.0) -> Dict[str, Any]:
    """Run :mod:`.reference_run` in a child process and return what it saw."""
    result = subprocess.run([sys.executable, "-m", "bedrock_otel.docs_gen.reference_run", str(repo)],
                            capture_output=True, text=True, timeout=timeout, cwd=str(repo), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the reference run failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout)


def render_all(repo: Path, observation: Optional[Dict[str, Any]] = None) -> Dict[str, str]:
    """Repository-relative path → the text it should have."""
    from ..models import catalog
    from . import config_ref, examples, pictures, telemetry_ref

    observation = reference_observation(repo) if observation is None else observation
    source_text = "\n".join(path.read_text(encoding="utf-8") for path in sorted((repo / "src").rglob("*.py"))
                            if "docs_gen" not in path.parts)
    telemetry_ref.check(observation["catalogue"], source_text)
    files = {
        "docs/reference/telemetry.md": telemetry_ref.render(observation["catalogue"]),
        "docs/reference/configuration.md": config_ref.render(),
        "docs/families.md": catalog.render(),
    }
    files.update({f"docs/{path}": text for path, text in examples.render(repo).items()})
    files.update({f"docs/{path}": text for path, text in pictures.render(observation).items()})
    return files


def stale(repo: Path, files: Dict[str, str]) -> List[str]:
    """The generated files whose committed text differs from ``files`` (timing-dependent ones excepted)."""
    found = []
    for path, text in sorted(files.items()):
        if path in TIMING_DEPENDENT:
            continue
        target = repo / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            found.append(path)
    return found


def write(repo: Path, files: Dict[str, str], refresh_timing: bool = False) -> List[str]:
    """Write every file that changed; returns their paths.

    Timing-dependent files change on every run: they are written when missing, or with ``refresh_timing``.
    """
    written = []
    for path, text in sorted(files.items()):
        target = repo / path
        if target.exists() and (target.read_text(encoding="utf-8") == text
                                or (path in TIMING_DEPENDENT and not refresh_timing)):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check(repo: Path) -> List[str]:
    """Stale generated files of ``repo`` (empty when the docs are current)."""
    return stale(repo, render_all(repo))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check_only = "--check" in args
    roots = [arg for arg in args if not arg.startswith("--")]
    repo = repository_root(Path(roots[0]) if roots else None)
    files = render_all(repo)
    if check_only:
        outdated = stale(repo, files)
        for path in outdated:
            print(f"{path} is stale: run python -m bedrock_otel.docs_gen", file=sys.stderr)
        return 1 if outdated else 0
    written = write(repo, files, refresh_timing="--refresh-timing" in args)
    print(f"{len(files)} generated files, {len(written)} rewritten" + (f": {', '.join(written)}" if written else ""))
    return 0
