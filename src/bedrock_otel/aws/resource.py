"""The resource: service name and attributes from arguments and ``OTEL_*`` variables, plus AWS detectors.

Why detectors run here and not through ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``: the SDK waits for every
detector it starts (a hung metadata request holds up start-up) and the Lambda detector logs a warning
whenever it runs off Lambda. Here each detector runs only where its environment marker says it can
apply, all run in parallel daemon threads, and whatever has not answered by ``timeout`` is skipped.

Off AWS (a laptop, CI): ``aws_lambda`` is skipped (no ``AWS_LAMBDA_FUNCTION_NAME``), ``aws_ecs`` returns at
once (no ``ECS_CONTAINER_METADATA_URI*``), ``aws_eks`` returns at once (no service-account token files);
no network request is made. ``aws_ec2`` (opt-in) asks 169.254.169.254 for a token with a 1 s timeout
and quietly finds nothing off EC2. ``aws_eks`` on a non-EKS Kubernetes cluster calls the API server and
fails (logged once at INFO).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from .settings import DETECTOR_GROUP, load_entry_point

_log = logging.getLogger("bedrock_otel.aws")

# Detectors that would only log a warning when their environment is absent: run them only where it exists.
_MARKERS: Dict[str, str] = {"aws_lambda": "AWS_LAMBDA_FUNCTION_NAME"}


def build_resource(service_name: Optional[str], attributes: Mapping[str, Any], detectors: Sequence[str],
                   timeout: float, environ: Mapping[str, str]) -> Resource:
    """Precedence of ``service.name``: argument, ``resource_attributes``, ``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES``, a detector (Elastic Beanstalk), ``unknown_service:<executable>``."""
    explicit = dict(attributes)
    if service_name:
        explicit[SERVICE_NAME] = service_name
    # Resource.create adds the SDK's telemetry.sdk.* and service.instance.id, OTEL_RESOURCE_ATTRIBUTES,
    # OTEL_SERVICE_NAME and any OTEL_EXPERIMENTAL_RESOURCE_DETECTORS; explicit attributes win over them.
    base = Resource.create(explicit)
    requested_by_env = {name.strip() for name in environ.get("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "").split(",")}
    detected = detect([name for name in detectors if name not in requested_by_env], timeout, environ)
    resource = detected.merge(base)
    named = str(base.attributes.get(SERVICE_NAME, ""))
    if named.startswith("unknown_service") and detected.attributes.get(SERVICE_NAME):
        resource = resource.merge(Resource({SERVICE_NAME: detected.attributes[SERVICE_NAME]}))
    return resource


def detect(names: Sequence[str], timeout: float, environ: Mapping[str, str]) -> Resource:
    """Run the named detectors in parallel; merge what answered within ``timeout`` seconds, in order."""
    # Loading (importing) the detectors is local work that cannot hang, and can be slow on a cold start:
    # it happens here, so that the timeout applies to detection alone.
    detectors: Dict[str, Any] = {}
    for name in names:
        if name in _MARKERS and not environ.get(_MARKERS[name]):
            continue
        try:
            detectors[name] = load_entry_point(DETECTOR_GROUP, name)(raise_on_error=True)
        except Exception as exc:
            _log.warning("Resource detector %s could not be loaded: %s", name, exc)
    chosen = list(detectors)
    results: Dict[str, Resource] = {}
    threads: List[threading.Thread] = []
    for name in chosen:
        thread = threading.Thread(target=_run, args=(name, detectors[name], results),
                                  name=f"bedrock-otel-detect-{name}", daemon=True)
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    resource = Resource.get_empty()
    for name, thread in zip(chosen, threads):
        if thread.is_alive():
            _log.warning("Resource detector %s did not answer within %.1f s and was skipped", name, timeout)
        elif name in results:
            resource = resource.merge(results[name])
    return resource


def _run(name: str, detector: Any, results: Dict[str, Resource]) -> None:
    try:
        results[name] = detector.detect()
    except Exception as exc:  # a detector that cannot tell where it runs just contributes nothing
        _log.info("Resource detector %s found nothing: %s", name, exc)
