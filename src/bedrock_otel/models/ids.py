"""Model id resolution: from any form Bedrock accepts to the base model id that names a family.

Bedrock takes base ids (``anthropic.claude-3-haiku-20240307-v1:0``), cross-region inference
profiles (``us.``/``eu.``/``apac.``/``global.`` …), and ARNs of foundation models, inference
profiles, application inference profiles, provisioned, custom and imported models. Only some of
those name the underlying model; the others resolve to ``None`` and we rely on Bedrock's headers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

VENDORS = frozenset({
    "ai21", "amazon", "anthropic", "cohere", "deepseek", "luma", "meta", "mistral", "openai", "qwen",
    "stability", "twelvelabs", "writer", "moonshot", "minimax", "google", "nvidia",
})

# ARN resource types whose id is (or starts with) a base model id.
_NAMED_RESOURCES = frozenset({"foundation-model", "inference-profile", "system-defined-inference-profile"})
_CUSTOM_RESOURCES = frozenset({"custom-model"})


@lru_cache(maxsize=1024)
def base_model_id(model_id: str) -> Optional[str]:
    """The base model id behind ``model_id``, or None when the id does not say (opaque ARNs)."""
    if not isinstance(model_id, str) or not model_id:
        return None
    candidate = model_id
    if model_id.startswith("arn:"):
        parts = model_id.split(":", 5)
        if len(parts) < 6 or "/" not in parts[5]:
            return None
        resource_type, _, resource = parts[5].partition("/")
        if resource_type in _CUSTOM_RESOURCES:
            # custom-model/<base model id>/<suffix>: the base id is everything before the last '/'
            resource = resource.rsplit("/", 1)[0] if "/" in resource else ""
        elif resource_type not in _NAMED_RESOURCES:
            return None
        candidate = resource
    return _strip_geo_prefix(candidate)


def _strip_geo_prefix(model_id: str) -> Optional[str]:
    head, dot, rest = model_id.partition(".")
    if not dot:
        return None
    if head in VENDORS:
        return model_id
    second = rest.partition(".")[0]
    if second in VENDORS:  # us.anthropic…, eu.amazon…, global.anthropic…, us-gov.meta…
        return rest
    return None


def vendor_of(model_id: str) -> Optional[str]:
    base = base_model_id(model_id)
    return base.partition(".")[0] if base else None
