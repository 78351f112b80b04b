"""Amazon Titan Embeddings: Text v1/v2 and Multimodal (``amazon.titan-embed-image``).

One ``inputText`` (and/or ``inputImage``) in, one ``embedding`` out with ``inputTextTokenCount``.
v2 takes ``dimensions`` (256/512/1024) and ``embeddingTypes``; the multimodal model takes
``embeddingConfig.outputEmbeddingLength``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..telemetry import attributes as A
from .base import EmbeddingsCodec, Fields
from .content import ContentFields
from .registry import register

_EMBEDDING_KEYS = frozenset({"dimensions", "normalize", "embeddingTypes", "embeddingConfig", "inputImage"})


class TitanEmbedCodec(EmbeddingsCodec):
    family = "amazon.titan-embed"
    title = "Amazon Titan Embeddings (Text v1/v2, Multimodal)"
    params = {A.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: ("dimensions", "embeddingConfig.outputEmbeddingLength")}
    list_params = {A.GEN_AI_REQUEST_ENCODING_FORMATS: ("embeddingTypes",)}
    response_fields = Fields(
        input_tokens=("inputTextTokenCount",),
        outputs=("embedding", "embeddingsByType.float", "embeddingsByType.binary"),  # one vector per call
        output_kind="embedding",
    )
    content = ContentFields(prompt=("inputText",), media=("inputImage",))  # vectors are not content

    def claims(self, request: Mapping[str, Any]) -> bool:
        return "textGenerationConfig" not in request and any(key in request for key in _EMBEDDING_KEYS)


register(TitanEmbedCodec(), ["amazon.titan-embed-"])
