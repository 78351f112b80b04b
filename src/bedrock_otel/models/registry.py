"""Which codec parses which model: families register id prefixes here.

Lookup is by longest matching prefix of the resolved base model id, so ``amazon.nova-canvas``
can override ``amazon.nova`` without ordering rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, Iterable, Mapping, Optional

from .base import ModelCodec
from .ids import base_model_id

_CODECS: Dict[str, ModelCodec] = {}


def register(codec: ModelCodec, prefixes: Iterable[str]) -> ModelCodec:
    """Make ``codec`` parse every base model id starting with one of ``prefixes``."""
    for prefix in prefixes:
        _CODECS[prefix] = codec
    codec_for.cache_clear()
    return codec


@lru_cache(maxsize=1024)
def codec_for(model_id: str) -> Optional[ModelCodec]:
    """The codec for ``model_id`` in any accepted form, or None when the family is unknown."""
    base = base_model_id(model_id)
    if base is None:
        return None
    best = None
    for prefix, codec in _CODECS.items():
        if base.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, codec)
    return best[1] if best else None


def codec_for_request(model_id: str, request: Any) -> Optional[ModelCodec]:
    """The codec by id, else the one family whose body shape the request has (opaque ARNs)."""
    codec = codec_for(model_id)
    if codec is None and isinstance(request, Mapping):
        for candidate in dict.fromkeys(_CODECS.values()):
            if candidate.claims(request):
                return candidate
    return codec


def registered() -> Dict[str, ModelCodec]:
    """Prefix → codec, for documentation and tests."""
    return dict(_CODECS)


def _load_builtin_families() -> None:
    # Modules register themselves. Their claims() are disjoint, so body sniffing does not depend on order.
    from . import (  # noqa: F401
        ai21_jamba,
        amazon_nova,
        amazon_nova_canvas,
        amazon_nova_embed,
        amazon_titan,
        amazon_titan_embed,
        amazon_titan_image,
        anthropic,
        cohere_command,
        cohere_command_r,
        cohere_embed,
        deepseek,
        meta_llama,
        mistral,
        openai_gpt_oss,
        qwen,
        stability,
        writer_palmyra,
    )


_load_builtin_families()
