"""The documentation site: generated pages are current, references match the code, public API is documented.

* Generated files (telemetry and configuration references, model families, example pages, pictures) equal
  what ``python -m bedrock_otel.docs_gen`` writes now; the fix for a failure is to run it.
* The configuration reference's rows match ``configure()``'s signature and the keyword arguments
  ``instrument()`` reads, and every documented environment variable really changes the setting it is listed
  for (the probes); every ``OTEL_*``/``BEDROCK_OTEL_*`` name the source reads is listed.
* Every public function, class and method has a docstring and a place in the API reference.
* The site builds with ``mkdocs build --strict`` (skipped when mkdocs is not installed: the ``docs`` extra).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from bedrock_otel import docs_gen
from bedrock_otel.aws.configure import configure
from bedrock_otel.docs_gen import config_ref, telemetry_ref

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: modules whose public names make up the API reference, with the names that are public there
PUBLIC_MODULES = {
    "bedrock_otel": None,  # None: the module's __all__
    "bedrock_otel.aws": None,
    "bedrock_otel.testing": None,
    "bedrock_otel.telemetry.redaction": ["PatternRedactor", "luhn_valid", "redact", "scrub_credentials"],
}


@pytest.fixture(scope="module")
def observation() -> Dict[str, Any]:
    return docs_gen.reference_observation(ROOT)


@pytest.fixture(scope="module")
def generated(observation: Dict[str, Any]) -> Dict[str, str]:
    return docs_gen.render_all(ROOT, observation)


# -- generated pages ---------------------------------------------------------------------------------------


def test_generated_docs_are_current(generated):
    stale = docs_gen.stale(ROOT, generated)
    assert not stale, f"stale generated docs: {stale}; run python -m bedrock_otel.docs_gen (from the repository root)"


def test_generated_set_is_complete(generated, observation):
    expected = {"docs/reference/telemetry.md", "docs/reference/configuration.md", "docs/families.md",
                "docs/examples/index.md", "docs/img/trace-agent-app.svg"}
    assert expected <= set(generated)
    examples = {path.name for path in (ROOT / "examples").iterdir() if (path / "README.md").exists()}
    assert {f"docs/examples/{name}.md" for name in examples} <= set(generated), "an example has no page"
    if "skipped" in observation["dashboard"]:
        pytest.skip(observation["dashboard"]["skipped"])
    assert {"docs/img/dashboard.svg", "docs/img/dashboard-latency.svg"} <= set(generated)


def test_reference_run_covers_every_instrumented_api(observation):
    from bedrock_otel import calls  # noqa: F401  (registers the operations)
    from bedrock_otel.operations.base import _OPERATIONS

    methods = {span["method"] for span in observation["catalogue"]["spans"] if span["kind"] == "CLIENT"}
    assert {method for _service, method in _OPERATIONS} <= methods
    assert not [span for span in observation["catalogue"]["spans"] if span["name"] == ""]


def test_telemetry_catalogue_describes_every_attribute(observation):
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "src").rglob("*.py")
                       if "docs_gen" not in path.parts)
    telemetry_ref.check(observation["catalogue"], source)  # raises StaleCatalogue listing what is missing


def test_telemetry_catalogue_fails_on_an_undescribed_attribute(observation):
    bad = {**observation["catalogue"], "spans": [*observation["catalogue"]["spans"], {
        "name": "x", "kind": "CLIENT", "scope": "", "status": "UNSET", "parent": None, "method": "Converse",
        "operation": "chat", "attributes": ["gen_ai.brand_new"], "events": []}]}
    with pytest.raises(telemetry_ref.StaleCatalogue, match=r"gen_ai\.brand_new"):
        telemetry_ref.check(bad, "")


def test_docs_gen_check_mode(tmp_path, generated):
    stale_copy = dict(generated)
    stale_copy["docs/reference/telemetry.md"] += "stale\n"
    assert "docs/reference/telemetry.md" in docs_gen.stale(ROOT, stale_copy)
    for timing_dependent in docs_gen.TIMING_DEPENDENT:
        stale_copy[timing_dependent] = "anything"
        assert timing_dependent not in docs_gen.stale(ROOT, stale_copy)
    written = docs_gen.write(tmp_path, {"docs/a.md": "one\n"})
    assert written == ["docs/a.md"] and docs_gen.write(tmp_path, {"docs/a.md": "one\n"}) == []
    latency = docs_gen.TIMING_DEPENDENT[0]
    assert docs_gen.write(tmp_path, {latency: "first"}) == [latency]  # missing: written
    assert docs_gen.write(tmp_path, {latency: "second"}) == []  # present: left alone, unless asked
    assert docs_gen.write(tmp_path, {latency: "second"}, refresh_timing=True) == [latency]


# -- the configuration reference -----------------------------------------------------------------------


def test_configure_table_matches_the_signature():
    documented = [setting.argument for setting in config_ref.configure_settings()]
    assert sorted(documented) == sorted(inspect.signature(configure).parameters)
    assert len(documented) == len(set(documented))


def test_instrument_table_matches_the_arguments_read():
    documented = sorted(setting.argument for setting in config_ref.instrument_settings())
    assert documented == config_ref.instrument_kwargs_read()


def _probes() -> Iterator[Any]:
    for table, settings in (("configure", config_ref.configure_settings()),
                            ("instrument", config_ref.instrument_settings())):
        for setting in settings:
            for number, probe in enumerate(setting.probes):
                yield pytest.param(probe, id=f"{table}-{setting.argument}-{number}")


@pytest.mark.parametrize("probe", list(_probes()))
def test_documented_variables_change_their_setting(probe):
    probe()


def test_every_documented_variable_has_a_probe():
    """One probe per concrete variable, except those the SDK's Resource.create reads itself."""
    for setting in config_ref.configure_settings() + config_ref.instrument_settings():
        if setting.argument in ("service_name", "resource_attributes"):
            continue
        variables = [name for variable in setting.env for name in config_ref._expand(variable) if "{" not in name]
        assert len(setting.probes) >= len(variables), f"{setting.argument}: {variables}"


def test_every_variable_the_source_reads_is_documented():
    read = set(config_ref.source_variables(ROOT / "src" / "bedrock_otel"))
    missing = read - set(config_ref.documented_variables())
    assert not missing, f"add these to bedrock_otel.docs_gen.config_ref: {sorted(missing)}"


def test_configure_defaults_are_the_code_defaults():
    text = (DOCS / "reference" / "configuration.md").read_text(encoding="utf-8")
    from bedrock_otel.aws import settings

    for value in (*settings.DEFAULT_ENDPOINTS.values(), *settings.DEFAULT_PROPAGATORS, *settings.DEFAULT_DETECTORS,
                  *settings.APPLICATION_SIGNALS_ENDPOINTS.values()):
        assert f"`{value}`" in text


# -- API reference and docstrings ------------------------------------------------------------------------


def _public() -> List[Tuple[str, str, Any]]:
    found = []
    for module_name, names in PUBLIC_MODULES.items():
        module = importlib.import_module(module_name)
        for name in names or module.__all__:
            if name.startswith("__"):
                continue
            found.append((module_name, name, getattr(module, name)))
    return found


def _members(cls: type) -> Iterator[Tuple[str, Any]]:
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            yield name, value.fget
        elif isinstance(value, (staticmethod, classmethod)):
            yield name, value.__func__
        elif inspect.isfunction(value):
            yield name, value


def test_every_public_name_has_a_docstring():
    missing = []
    for module_name, name, obj in _public():
        if not (inspect.isclass(obj) or callable(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj) and obj.__module__.startswith("bedrock_otel"):
            missing += [f"{module_name}.{name}.{member}" for member, function in _members(obj)
                        if not (getattr(function, "__doc__", None) or "").strip()]
    assert not missing, f"public names without a docstring: {missing}"


def test_every_public_name_is_in_the_api_reference():
    pages = "\n".join(path.read_text(encoding="utf-8") for path in (DOCS / "api").glob("*.md"))
    rendered = set(re.findall(r"^::: ([\w.]+)$", pages, flags=re.MULTILINE))
    missing = []
    for module_name, name, obj in _public():
        if not (inspect.isclass(obj) or callable(obj)):
            continue
        defined_in = getattr(obj, "__module__", module_name)
        candidates = {f"{module_name}.{name}", f"{defined_in}.{name}", f"{defined_in.rsplit('.', 1)[0]}.{name}"}
        if not candidates & rendered:
            missing.append(f"{module_name}.{name}")
    assert not missing, f"add to docs/api/*.md: {missing}"


def test_every_page_is_in_the_navigation():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def pages(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    in_nav = set(pages(config["nav"]))
    on_disk = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md") if "_hooks" not in path.parts}
    assert on_disk == in_nav


# -- the site --------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None,
                    reason="mkdocs / mkdocstrings not installed (pip install -e '.[docs]')")
def test_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "telemetry" / "index.html").exists()
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "bedrock_otel.instrument" in api and ":func:" not in api
