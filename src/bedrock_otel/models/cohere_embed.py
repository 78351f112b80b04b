"""Cohere Embed (English/Multilingual v3, v4): ``texts`` (or ``images``/``inputs``) in, ``embeddings`` out.

``embeddings`` is a list of vectors, or with ``embedding_types`` an object of such lists by type
(``float``, ``int8``, …); the count is the number of inputs embedded, not vectors times types.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import EmbeddingsCodec, Fields
from .content import ContentFields
from .registry import register

_TYPES = ("float", "int8", "uint8", "binary", "ubinary", "base64")


class CohereEmbedCodec(EmbeddingsCodec):
    family = "cohere.embed"
    title = "Cohere Embed"
    params = {
        A.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: ("output_dimension",),
        A.GEN_AI_REQUEST_MAX_TOKENS: ("max_tokens",),
    }
    list_params = {A.GEN_AI_REQUEST_ENCODING_FORMATS: ("embedding_types",)}
    response_fields = Fields(
        response_id=("id",),
        outputs=("embeddings[]", *(f"embeddings.{kind}[]" for kind in _TYPES)),
        output_kind="embedding",
    )
    content = ContentFields(prompt=("texts",), media=("images",))  # images are data: URLs

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "input_type" in request and ("texts" in request or "images" in request or "inputs" in request)


register(CohereEmbedCodec(), ["cohere.embed"])
